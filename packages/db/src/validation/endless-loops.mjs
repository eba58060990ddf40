// @ts-check
/**
 * Finds the loops of a JSON Schema that never end: subschemas that apply to the same value and
 * lead back to themselves through `$ref`, `allOf`, `anyOf`, `oneOf`, `not`, `if`/`then`/`else` or
 * `dependencies`, such as `{"$ref": "#"}` or two definitions that name each other. A validator
 * follows them until its stack runs out. Recursion that reads deeper into the value on each turn
 * (`{"properties": {"child": {"$ref": "#"}}}`) ends with the value and is not such a loop.
 *
 * Plain JavaScript for the validation worker (./worker.mjs), which loads it in its own thread.
 */

import { URL } from 'node:url';

/** @typedef {Record<string, unknown>} JsonObject */

/** Keywords whose value is one subschema. */
const ONE = ['not', 'if', 'then', 'else', 'additionalProperties', 'additionalItems', 'contains', 'propertyNames', 'unevaluatedProperties', 'unevaluatedItems', 'items'];
/** Keywords whose value is a list of subschemas. */
const LIST = ['allOf', 'anyOf', 'oneOf', 'items', 'prefixItems'];
/** Keywords whose value maps names to subschemas. */
const MAP = ['properties', 'patternProperties', 'definitions', '$defs', 'dependencies', 'dependentSchemas'];
/** Of those, the ones whose subschemas apply to the value itself, not to a part of it. */
const IN_PLACE_ONE = ['not', 'if', 'then', 'else'];
const IN_PLACE_LIST = ['allOf', 'anyOf', 'oneOf'];
const IN_PLACE_MAP = ['dependencies', 'dependentSchemas'];

/** The base of references in a schema without an `$id`. */
const ROOT_BASE = 'prismq:/parameters-schema';

/** @param {unknown} value @returns {value is JsonObject} */
const isSchema = (value) => typeof value === 'object' && value !== null && !Array.isArray(value);

/** @param {string} base @param {string} reference @returns {URL | undefined} */
function resolve(base, reference) {
  try {
    return new URL(reference, base);
  } catch {
    return undefined;
  }
}

/** @param {URL} url */
const withoutFragment = (url) => `${url.protocol}${url.host ? `//${url.host}` : ''}${url.pathname}${url.search}`;

/** @param {JsonObject} start @param {string} pointer @returns {JsonObject | undefined} */
function atPointer(start, pointer) {
  /** @type {unknown} */
  let node = start;
  for (const raw of pointer.split('/').slice(1)) {
    let key;
    try {
      key = decodeURIComponent(raw).replace(/~1/g, '/').replace(/~0/g, '~');
    } catch {
      return undefined; // malformed percent-encoding: left to the compiler
    }
    if (typeof node !== 'object' || node === null) return undefined;
    node = /** @type {Record<string, unknown>} */ (node)[key];
  }
  return isSchema(node) ? node : undefined;
}

/**
 * True when `schema` holds a loop that never ends (see above). References it cannot resolve are
 * left to the compiler, which refuses them.
 * @param {JsonObject} schema
 * @returns {boolean}
 */
export function hasEndlessLoop(schema) {
  /** Each subschema's base URI. @type {Map<JsonObject, string>} */
  const baseOf = new Map();
  /** Documents (a schema with an `$id`, or the root) by URI without fragment; anchors by full URI. @type {Map<string, JsonObject>} */
  const byUri = new Map();

  // Every subschema once, with its base URI (iteratively: nesting may be deep).
  /** @type {[JsonObject, string][]} */
  const stack = [[schema, ROOT_BASE]];
  byUri.set(ROOT_BASE, schema);
  while (stack.length) {
    const [node, parentBase] = /** @type {[JsonObject, string]} */ (stack.pop());
    if (baseOf.has(node)) continue;
    let base = parentBase;
    if (typeof node.$id === 'string') {
      const url = resolve(parentBase, node.$id);
      if (url) {
        if (url.hash && url.hash !== '#') byUri.set(url.href, node); // a draft-07 plain-name anchor
        else {
          base = withoutFragment(url);
          byUri.set(base, node);
        }
      }
    }
    if (typeof node.$anchor === 'string') byUri.set(`${base}#${node.$anchor}`, node);
    baseOf.set(node, base);
    for (const keyword of ONE) if (isSchema(node[keyword])) stack.push([/** @type {JsonObject} */ (node[keyword]), base]);
    for (const keyword of LIST) {
      const list = node[keyword];
      if (Array.isArray(list)) for (const item of list) if (isSchema(item)) stack.push([item, base]);
    }
    for (const keyword of MAP) {
      const map = node[keyword];
      if (isSchema(map)) for (const value of Object.values(map)) if (isSchema(value)) stack.push([value, base]);
    }
  }

  /** The subschemas that apply to the same value as `node`. @param {JsonObject} node @returns {JsonObject[]} */
  const inPlace = (node) => {
    /** @type {JsonObject[]} */
    const next = [];
    for (const keyword of IN_PLACE_ONE) if (isSchema(node[keyword])) next.push(/** @type {JsonObject} */ (node[keyword]));
    for (const keyword of IN_PLACE_LIST) {
      const list = node[keyword];
      if (Array.isArray(list)) for (const item of list) if (isSchema(item)) next.push(item);
    }
    for (const keyword of IN_PLACE_MAP) {
      const map = node[keyword];
      if (isSchema(map)) for (const value of Object.values(map)) if (isSchema(value)) next.push(value);
    }
    if (typeof node.$ref === 'string') {
      const url = resolve(/** @type {string} */ (baseOf.get(node)), node.$ref);
      const document = url && byUri.get(withoutFragment(url));
      /** @type {JsonObject | undefined} */
      let target;
      if (url && (url.hash === '' || url.hash === '#')) target = document;
      else if (url?.hash.startsWith('#/')) target = document && atPointer(document, url.hash.slice(1));
      else if (url) target = byUri.get(url.href);
      if (target) next.push(target);
    }
    return next;
  };

  // A cycle among in-place edges, by depth-first search with three colours (iteratively).
  /** 1 while on the current path, 2 when done. @type {Map<JsonObject, 1 | 2>} */
  const colour = new Map();
  for (const start of baseOf.keys()) {
    if (colour.has(start)) continue;
    /** @type {[JsonObject, JsonObject[]][]} */
    const path = [[start, inPlace(start)]];
    colour.set(start, 1);
    while (path.length) {
      const top = /** @type {[JsonObject, JsonObject[]]} */ (path[path.length - 1]);
      const next = top[1].pop();
      if (!next) {
        colour.set(top[0], 2);
        path.pop();
        continue;
      }
      const seen = colour.get(next);
      if (seen === 1) return true;
      if (seen === 2) continue;
      colour.set(next, 1);
      path.push([next, inPlace(next)]);
    }
  }
  return false;
}
