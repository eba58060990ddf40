import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import type { RegExpEngine } from 'ajv/dist/types/index.js';
import { RE2JS } from 're2js';
import addFormats from 'ajv-formats';
import { ValidationError, type Problem } from './errors.js';
import type { JsonObject, TaskType } from './types.js';

const MAX_CACHED = 200;

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

/** A fresh validator: each schema gets its own, so one type's `$id`s never meet another's. */
const newAjv = () => addFormats.default(new Ajv({ allErrors: true, strict: false, logger: false, code: { regExp: re2 } }));

/**
 * Validates task parameters against their type's `parameters_schema` (JSON Schema, draft-07 by
 * default) with Ajv. Each type's schema is compiled once per version of the type and cached.
 */
export class ParameterValidator {
  private readonly cache = new Map<string, ValidateFunction>();

  /** Problems with a schema itself, as found under `prefix`; empty when it is a usable JSON Schema. */
  checkSchema(schema: JsonObject, prefix: (string | number)[] = ['parameters_schema']): Problem[] {
    const ajv = newAjv();
    try {
      if (!ajv.validateSchema(schema)) return toProblems(ajv.errors, prefix);
      ajv.compile(schema);
      return [];
    } catch (error) {
      // Unresolvable references, unknown meta-schemas, patterns RE2 cannot run, absurd nesting.
      return [{ path: prefix, message: (error as Error).message, type: 'schema.invalid' }];
    }
  }

  /** Throws ValidationError (paths under `prefix`) when `parameters` break the type's schema. */
  validate(type: TaskType, parameters: JsonObject, prefix: (string | number)[] = ['parameters']): void {
    if (Object.keys(type.parameters_schema).length === 0) return;
    let validateFn: ValidateFunction;
    try {
      validateFn = this.compiled(type);
    } catch (error) {
      // Only for a schema stored before it was checked (e.g. by an older version).
      const message = `the type's parameters_schema does not compile: ${(error as Error).message}`;
      throw new ValidationError([{ path: prefix, message, type: 'schema.invalid' }]);
    }
    if (!validateFn(parameters)) throw new ValidationError(toProblems(validateFn.errors, prefix));
  }

  private compiled(type: TaskType): ValidateFunction {
    const key = `${type.id}@${type.updated_at ?? type.created_at}`;
    let fn = this.cache.get(key);
    if (!fn) {
      fn = newAjv().compile(type.parameters_schema);
      if (this.cache.size >= MAX_CACHED) this.cache.delete(this.cache.keys().next().value!);
      this.cache.set(key, fn);
    }
    return fn;
  }
}
