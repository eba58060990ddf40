// @ts-check
/**
 * The validation worker: everything Ajv does for the store runs here, in a worker thread of the
 * pool that ParameterValidator (../parameters.ts) keeps, never on the main thread and never while
 * a write transaction is open. JSON Schema validation can cost far more than its input's size
 * suggests (`uniqueItems` compares every pair of items; compiling a huge `enum`, many
 * `patternProperties` or nested `anyOf` is slow), so each call has a time budget: the pool
 * terminates a worker that overruns it and starts another.
 *
 * Plain ESM JavaScript on purpose: the pool loads this file by path in a new thread, with no
 * TypeScript loader, from the sources (tests) and from the server's bundle alike.
 */
import { parentPort } from 'node:worker_threads';
import { Ajv } from 'ajv';
import addFormats from 'ajv-formats';
import { RE2JS } from 're2js';
import { hasEndlessLoop } from './endless-loops.mjs';

/** @typedef {(string | number)[]} Path */
/** @typedef {{ path: Path, message: string, type: string, omitted?: number }} Problem */
/** @typedef {Record<string, unknown>} JsonObject */
/**
 * Checks a schema: `[]` when it is a usable JSON Schema, else its problems under `prefix` (at
 * most `maxProblems`, and one that counts the others).
 * @typedef {{ job: number, op: 'check', schema: JsonObject, prefix: Path, maxProblems: number }} CheckJob
 */
/**
 * Validates parameters. `schemas` by key (a type's id and version); each item names its schema's
 * key. The answer holds one list of problems per item, in order.
 * At most `maxProblems` problems per item are listed, and one that counts the others.
 * @typedef {{ key: string, parameters: JsonObject, prefix: Path }} ValidateItem
 * @typedef {{ job: number, op: 'validate', schemas: Record<string, JsonObject>, items: ValidateItem[], maxProblems: number }} ValidateJob
 */

const MAX_CACHED = 200;

/**
 * `pattern` and `patternProperties` run on RE2, which matches in linear time: a schema cannot
 * make validation hang on a catastrophic regular expression such as `(a+)+$`. RE2 has no
 * backreferences or lookaround; a schema that uses them is refused as invalid.
 * @type {import('ajv/dist/types/index.js').RegExpEngine}
 */
const re2 = Object.assign(
  /** @param {string} pattern @param {string} flags */
  (pattern, flags) => {
    const compiled = RE2JS.compile(pattern, flags.includes('i') ? RE2JS.CASE_INSENSITIVE : 0);
    // Ajv tells compiled patterns apart by their toString().
    return { test: (/** @type {string} */ input) => compiled.matcher(input).find(), toString: () => `re2:/${pattern}/${flags}` };
  },
  { code: 're2js' },
);

/**
 * The problems of Ajv's errors, the first `max` of them; the others counted in one last entry of
 * type `too_many_problems` (its message is written by the caller, see ParameterValidator).
 * @param {import('ajv').ErrorObject[] | null | undefined} errors
 * @param {Path} prefix
 * @param {number} [max]
 * @returns {Problem[]}
 */
function toProblems(errors, prefix, max = Infinity) {
  const all = errors ?? [];
  /** @type {Problem[]} */
  const problems = all.slice(0, max).map((e) => {
    /** @type {Path} */
    const path = e.instancePath
      .split('/')
      .slice(1)
      .map((segment) => segment.replace(/~1/g, '/').replace(/~0/g, '~'));
    if (e.keyword === 'required') path.push(String(e.params.missingProperty));
    return { path: [...prefix, ...path], message: e.message ?? 'is invalid', type: `schema.${e.keyword}` };
  });
  if (all.length > max) problems.push({ path: prefix, message: '', type: 'too_many_problems', omitted: all.length - max });
  return problems;
}

/** A fresh validator: each schema gets its own, so one type's `$id`s never meet another's. */
const newAjv = () => addFormats.default(new Ajv({ allErrors: true, strict: false, logger: false, code: { regExp: re2 } }));

/** Compiled schemas by key (a type's id and version), oldest first. */
/** @type {Map<string, import('ajv').ValidateFunction>} */
const cache = new Map();

/** @param {string} key @param {JsonObject} schema */
function compiled(key, schema) {
  let fn = cache.get(key);
  if (!fn) {
    fn = newAjv().compile(schema);
    if (cache.size >= MAX_CACHED) cache.delete(/** @type {string} */ (cache.keys().next().value));
    cache.set(key, fn);
  }
  return fn;
}

/**
 * A schema whose `$ref`s lead back to where they started without reading any deeper into the
 * parameters (`{"$ref": "#"}`, or two `allOf`s naming each other) makes Ajv recurse until the
 * stack runs out. JSON Schema leaves such a loop undefined; here it is a problem of the schema.
 * @param {Path} prefix @returns {Problem}
 */
const endlessProblem = (prefix) => ({
  path: prefix,
  message: "the type's parameters_schema refers back to itself without end ($ref, allOf, anyOf, oneOf, not, if/then/else that loop on the same value)",
  type: 'schema.recursive',
});

/** @param {unknown} error */
const isStackOverflow = (error) => error instanceof RangeError && /call stack/i.test(error.message);

/** @param {JsonObject} schema @param {Path} prefix @param {number} [maxProblems] @returns {Problem[]} */
function checkSchema(schema, prefix, maxProblems) {
  const ajv = newAjv();
  try {
    if (!ajv.validateSchema(schema)) return toProblems(ajv.errors, prefix, maxProblems);
    if (hasEndlessLoop(schema)) return [endlessProblem(prefix)];
    const validateFn = ajv.compile(schema);
    // What the search above could not see (a reference it could not follow) and Ajv can.
    validateFn({});
  } catch (error) {
    if (isStackOverflow(error)) return [endlessProblem(prefix)];
    // Unresolvable references, unknown meta-schemas, patterns RE2 cannot run, absurd nesting.
    return [{ path: prefix, message: /** @type {Error} */ (error).message, type: 'schema.invalid' }];
  }
  return [];
}

/** @param {JsonObject} schema @param {string} key @param {JsonObject} parameters @param {Path} prefix @param {number} maxProblems @returns {Problem[]} */
function validate(schema, key, parameters, prefix, maxProblems) {
  let validateFn;
  try {
    validateFn = compiled(key, schema);
  } catch (error) {
    // Only for a schema stored before it was checked (e.g. by an older version).
    const message = `the type's parameters_schema does not compile: ${/** @type {Error} */ (error).message}`;
    return [{ path: prefix, message, type: 'schema.invalid' }];
  }
  try {
    return validateFn(parameters) ? [] : toProblems(validateFn.errors, prefix, maxProblems);
  } catch (error) {
    // Answered as this item's problem: a throw would fail every job of the call, other requests' too.
    if (isStackOverflow(error)) return [endlessProblem(prefix)];
    return [{ path: prefix, message: `the type's parameters_schema could not be applied: ${/** @type {Error} */ (error).message}`, type: 'schema.invalid' }];
  }
}

// Warm up while the thread starts, before any call's budget runs: the first compile in a thread
// (Ajv's meta-schema, the formats, cold code) costs tens of milliseconds more than the next ones.
checkSchema({ type: 'object', required: ['a'], properties: { a: { type: 'string', format: 'email', pattern: '^a' } } }, []);

/**
 * The pool's entry point: the jobs of one call, one after another; the answer of each, in order.
 * @param {{ jobs: (CheckJob | ValidateJob)[] }} call
 * @returns {(Problem[] | Problem[][])[]}
 */
export default function run({ jobs }) {
  return jobs.map((job) => {
    // The job's time budget starts now, not while it waited for a thread or for the jobs before it.
    parentPort?.postMessage({ started: job.job });
    if (job.op === 'check') return checkSchema(job.schema, job.prefix, job.maxProblems);
    return job.items.map(({ key, parameters, prefix }) => validate(/** @type {JsonObject} */ (job.schemas[key]), key, parameters, prefix, job.maxProblems));
  });
}
