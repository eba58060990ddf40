import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import type { RegExpEngine } from 'ajv/dist/types/index.js';
import { RE2JS } from 're2js';
import addFormats from 'ajv-formats';
import { ValidationError, type Problem } from './errors.js';
import type { JsonObject, TaskType } from './types.js';

const MAX_CACHED = 1000;

/**
 * `pattern` and `patternProperties` run on RE2, which matches in linear time: a schema cannot
 * make validation hang on a catastrophic regular expression such as `(a+)+$`. RE2 has no
 * backreferences or lookaround; a schema that uses them is refused as invalid.
 */
const re2: RegExpEngine = Object.assign(
  (pattern: string, flags: string) => {
    const compiled = RE2JS.compile(pattern, flags.includes('i') ? RE2JS.CASE_INSENSITIVE : 0);
    // Ajv tells compiled patterns apart by their toString().
    return { test: (input: string) => compiled.matcher(input).find(), toString: () => `re2:/${pattern}/${flags}` };
  },
  { code: 're2js' },
);

function toProblems(errors: ErrorObject[] | null | undefined, prefix: (string | number)[]): Problem[] {
  return (errors ?? []).map((e) => {
    const path = e.instancePath
      .split('/')
      .slice(1)
      .map((segment) => segment.replace(/~1/g, '/').replace(/~0/g, '~'));
    if (e.keyword === 'required') path.push(String(e.params.missingProperty));
    return { path: [...prefix, ...path], message: e.message ?? 'is invalid', type: `schema.${e.keyword}` };
  });
}

/**
 * Validates task parameters against their type's `parameters_schema` (JSON Schema, draft-07 by
 * default) with Ajv. Each type's schema is compiled once per version of the type and cached.
 */
export class ParameterValidator {
  private readonly ajv = addFormats.default(new Ajv({ allErrors: true, strict: false, code: { regExp: re2 } }));
  private readonly cache = new Map<string, ValidateFunction>();

  /** Problems with a schema itself, as found under `prefix`; empty when it is a usable JSON Schema. */
  checkSchema(schema: JsonObject, prefix: (string | number)[] = ['parameters_schema']): Problem[] {
    if (!this.ajv.validateSchema(schema)) return toProblems(this.ajv.errors, prefix);
    try {
      this.compileFresh(schema);
      return [];
    } catch (error) {
      return [{ path: prefix, message: (error as Error).message, type: 'schema.invalid' }];
    } finally {
      this.ajv.removeSchema(schema);
    }
  }

  /** Throws ValidationError (paths under `prefix`) when `parameters` break the type's schema. */
  validate(type: TaskType, parameters: JsonObject, prefix: (string | number)[] = ['parameters']): void {
    if (Object.keys(type.parameters_schema).length === 0) return;
    const validateFn = this.compiled(type);
    if (!validateFn(parameters)) throw new ValidationError(toProblems(validateFn.errors, prefix));
  }

  /** Compiles a schema, replacing an earlier one with the same `$id` (a type's previous version). */
  private compileFresh(schema: JsonObject): ValidateFunction {
    if (typeof schema.$id === 'string') this.ajv.removeSchema(schema.$id);
    return this.ajv.compile(schema);
  }

  private compiled(type: TaskType): ValidateFunction {
    const key = `${type.id}@${type.updated_at ?? type.created_at}`;
    let fn = this.cache.get(key);
    if (!fn) {
      fn = this.compileFresh(type.parameters_schema);
      if (this.cache.size >= MAX_CACHED) {
        const [oldestKey, oldest] = this.cache.entries().next().value!;
        this.ajv.removeSchema(oldest.schema as object);
        this.cache.delete(oldestKey);
      }
      this.cache.set(key, fn);
    }
    return fn;
  }
}
