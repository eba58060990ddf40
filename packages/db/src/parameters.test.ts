import { describe, expect, it } from 'vitest';
import { ValidationError } from './errors.js';
import { ParameterValidator } from './parameters.js';
import type { TaskType } from './types.js';

let nextId = 1;
/** A task type; each call is a different type unless `id` is given (the cache is per type and version). */
const typeWith = (parameters_schema: Record<string, unknown>, version = 'v1', id = nextId++): TaskType => ({
  id,
  name: 't',
  description: null,
  parameters_schema,
  metadata: {},
  is_active: true,
  created_at: version,
  updated_at: null,
  max_attempts: 3,
  retry_base_seconds: 5,
  retry_max_seconds: 3600,
});

const problems = (fn: () => void) => {
  try {
    fn();
    return [];
  } catch (error) {
    if (error instanceof ValidationError) return error.problems;
    throw error;
  }
};

describe('ParameterValidator', () => {
  const validator = new ParameterValidator();

  it('applies each pattern of a schema to its own property', () => {
    const type = typeWith({
      type: 'object',
      properties: { code: { type: 'string', pattern: '^[A-Z]{2}\\d+$' }, slug: { type: 'string', pattern: '^[a-z-]+$' } },
    });
    expect(problems(() => validator.validate(type, { code: 'AB12', slug: 'a-b' }))).toEqual([]);
    expect(problems(() => validator.validate(type, { code: 'ab12', slug: 'A' })).map((p) => p.path)).toEqual([
      ['parameters', 'code'],
      ['parameters', 'slug'],
    ]);
  });

  it('cannot be made to hang by a catastrophic pattern: patterns run on RE2', () => {
    const type = typeWith({ type: 'object', properties: { s: { type: 'string', pattern: '(a+)+$' } } });
    // With backtracking, this input would take longer than the age of the universe.
    expect(problems(() => validator.validate(type, { s: `${'a'.repeat(50_000)}!` }))).toEqual([
      expect.objectContaining({ path: ['parameters', 's'], type: 'schema.pattern' }),
    ]);
  });

  it('refuses schemas that are not JSON Schema, or whose patterns RE2 cannot run', () => {
    expect(validator.checkSchema({ type: 'nonsense' })).not.toEqual([]);
    expect(validator.checkSchema({ type: 'string', pattern: '(a)\\1' })).toEqual([
      expect.objectContaining({ path: ['parameters_schema'], type: 'schema.invalid' }),
    ]);
    expect(validator.checkSchema({ type: 'object', required: ['a'] })).toEqual([]);
  });

  it('recompiles when the type changes, even with the same $id', () => {
    const v1 = typeWith({ $id: 'https://example.com/params.json', type: 'object', required: ['a'] }, 'v1', 99);
    const v2 = typeWith({ $id: 'https://example.com/params.json', type: 'object', required: ['b'] }, 'v2', 99);
    expect(problems(() => validator.validate(v1, { a: 1 }))).toEqual([]);
    expect(problems(() => validator.validate(v2, { a: 1 })).map((p) => p.path)).toEqual([['parameters', 'b']]);
  });
});
