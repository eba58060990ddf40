import { afterAll, describe, expect, it } from 'vitest';
import { MAX_PROBLEMS, UnavailableError, ValidationError } from './errors.js';
import { ParameterValidator, type ParameterValidatorOptions } from './parameters.js';
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

const problems = async (promise: Promise<void>) => {
  try {
    await promise;
    return [];
  } catch (error) {
    if (error instanceof ValidationError) return error.problems;
    throw error;
  }
};

const validators: ParameterValidator[] = [];
const newValidator = (options?: ParameterValidatorOptions) => {
  const validator = new ParameterValidator(options);
  validators.push(validator);
  return validator;
};
afterAll(() => Promise.all(validators.map((validator) => validator.close())));

/** Validation that costs time in the square of its input: `uniqueItems` compares every pair of items. */
const quadratic = () => typeWith({ type: 'array', uniqueItems: true, items: { type: 'object' } });
const distinctObjects = (count: number) => Array.from({ length: count }, (_, i) => ({ i })) as unknown as Record<string, unknown>;

describe('ParameterValidator', () => {
  const validator = newValidator();

  it('applies each pattern of a schema to its own property', async () => {
    const type = typeWith({
      type: 'object',
      properties: { code: { type: 'string', pattern: '^[A-Z]{2}\\d+$' }, slug: { type: 'string', pattern: '^[a-z-]+$' } },
    });
    expect(await problems(validator.validate(type, { code: 'AB12', slug: 'a-b' }))).toEqual([]);
    expect((await problems(validator.validate(type, { code: 'ab12', slug: 'A' }))).map((p) => p.path)).toEqual([
      ['parameters', 'code'],
      ['parameters', 'slug'],
    ]);
  });

  it('cannot be made to hang by a catastrophic pattern: patterns run on RE2', async () => {
    const type = typeWith({ type: 'object', properties: { s: { type: 'string', pattern: '(a+)+$' } } });
    // With backtracking, this input would take longer than the age of the universe.
    expect(await problems(validator.validate(type, { s: `${'a'.repeat(50_000)}!` }))).toEqual([
      expect.objectContaining({ path: ['parameters', 's'], type: 'schema.pattern' }),
    ]);
  });

  it('refuses schemas that are not JSON Schema, or whose patterns RE2 cannot run', async () => {
    expect(await validator.checkSchema({ type: 'nonsense' })).not.toEqual([]);
    expect(await validator.checkSchema({ type: 'string', pattern: '(a)\\1' })).toEqual([
      expect.objectContaining({ path: ['parameters_schema'], type: 'schema.invalid' }),
    ]);
    expect(await validator.checkSchema({ type: 'object', required: ['a'] })).toEqual([]);
  });

  it('refuses schemas with a loop that never ends, and keeps recursion that reads deeper into the value', async () => {
    const endless = [
      { $ref: '#' },
      { type: 'object', properties: { a: { $ref: '#/properties/a' } } },
      { definitions: { a: { allOf: [{ $ref: '#/definitions/b' }] }, b: { anyOf: [{ $ref: '#/definitions/a' }] } }, $ref: '#/definitions/a' },
      // Only parameters with `a` would reach it.
      { properties: { a: { $ref: '#/definitions/p' } }, definitions: { p: { not: { if: { $ref: '#/definitions/q' } } }, q: { oneOf: [{ $ref: '#/definitions/p' }] } } },
      { $id: 'https://example.com/a.json', properties: { a: { $id: 'b.json', allOf: [{ $ref: 'https://example.com/b.json' }] } } },
      { $id: 'https://example.com/c.json', properties: { a: { $id: '#here', dependencies: { x: { $ref: '#here' } } } } },
      { $ref: '#/definitions/a%20b~1c', definitions: { 'a b/c': { allOf: [{ $ref: '#/definitions/a%20b~1c' }] } } },
    ];
    for (const schema of endless) {
      expect(await validator.checkSchema(schema), JSON.stringify(schema)).toEqual([
        { path: ['parameters_schema'], message: expect.stringContaining('refers back to itself without end'), type: 'schema.recursive' },
      ]);
    }
    const tree = {
      $id: 'https://example.com/tree.json',
      type: 'object',
      properties: { children: { type: 'array', items: { $ref: '#' } }, next: { $ref: 'tree.json' }, alias: { allOf: [{ $ref: '#/definitions/leaf' }] } },
      definitions: { leaf: { anyOf: [{ type: 'string' }, { $ref: '#' }] } },
    };
    expect(await validator.checkSchema(tree)).toEqual([]);
    expect(await problems(validator.validate(typeWith(tree), { children: [{ next: { alias: 'x' } }, { alias: { children: [] } }] }))).toEqual([]);
  });

  it('answers a loop it meets while validating as a problem of that item alone (a schema stored before the check)', async () => {
    const looping = typeWith({ properties: { a: { $ref: '#/definitions/p' } }, definitions: { p: { allOf: [{ $ref: '#/definitions/p' }] } } });
    const answers = await validator.problems(
      [
        { type: looping, parameters: { a: 1 }, prefix: ['tasks', 0, 'parameters'] },
        { type: typeWith({ type: 'object', required: ['b'] }), parameters: {}, prefix: ['tasks', 1, 'parameters'] },
        { type: looping, parameters: {}, prefix: ['tasks', 2, 'parameters'] },
      ],
      ['tasks'],
    );
    expect(answers).toEqual([
      [expect.objectContaining({ path: ['tasks', 0, 'parameters'], type: 'schema.recursive' })],
      [expect.objectContaining({ path: ['tasks', 1, 'parameters', 'b'] })],
      [],
    ]);
  });

  it('lists at most MAX_PROBLEMS problems of an item, and one that counts the others', async () => {
    const strings = typeWith({ type: 'object', properties: { a: { type: 'array', items: { type: 'string' } } } });
    const found = await problems(validator.validate(strings, { a: Array(125_000).fill(0) }));
    expect(found).toHaveLength(MAX_PROBLEMS + 1);
    expect(found[0]).toEqual({ path: ['parameters', 'a', '0'], message: 'must be string', type: 'schema.type' });
    expect(found.at(-1)).toEqual({ path: ['parameters'], message: '124,900 more problems not listed', type: 'too_many_problems', omitted: 124_900 });
    // A batch of such items: the error keeps MAX_PROBLEMS in all, and counts every other one.
    const batch = await validator.problems(
      [0, 1, 2].map((i) => ({ type: strings, parameters: { a: Array(150).fill(i) }, prefix: ['tasks', i, 'parameters'] })),
      ['tasks'],
    );
    expect(batch.map((item) => item.length)).toEqual([101, 101, 101]);
    const error = new ValidationError(batch.flat());
    // And a schema that breaks the meta-schema in 500 places.
    const broken = { properties: Object.fromEntries(Array.from({ length: 500 }, (_, i) => [`p${i}`, { type: 'nonsense' }])) };
    const schemaProblems = await validator.checkSchema(broken);
    expect(schemaProblems).toHaveLength(MAX_PROBLEMS + 1);
    expect(schemaProblems.at(-1)).toMatchObject({ path: ['parameters_schema'], message: expect.stringMatching(/^[\d,]+ more problems not listed$/), type: 'too_many_problems' });
    expect(error.problems.slice(MAX_PROBLEMS)).toEqual([
      { path: ['tasks', 0, 'parameters'], message: '50 more problems not listed', type: 'too_many_problems', omitted: 50 },
      { path: [], message: '300 more problems not listed', type: 'too_many_problems', omitted: 300 },
    ]);
  });

  it('recompiles when the type changes, even with the same $id', async () => {
    const v1 = typeWith({ $id: 'https://example.com/params.json', type: 'object', required: ['a'] }, 'v1', 99);
    const v2 = typeWith({ $id: 'https://example.com/params.json', type: 'object', required: ['b'] }, 'v2', 99);
    expect(await problems(validator.validate(v1, { a: 1 }))).toEqual([]);
    expect((await problems(validator.validate(v2, { a: 1 }))).map((p) => p.path)).toEqual([['parameters', 'b']]);
  });

  it('answers the problems of each item of a batch in order, types without a schema included', async () => {
    const strict = typeWith({ type: 'object', required: ['a'] });
    const open = typeWith({});
    const answers = await validator.problems(
      [
        { type: strict, parameters: {}, prefix: ['tasks', 0, 'parameters'] },
        { type: open, parameters: { anything: true }, prefix: ['tasks', 1, 'parameters'] },
        { type: strict, parameters: { a: 1 }, prefix: ['tasks', 2, 'parameters'] },
        { type: strict, parameters: { b: 1 }, prefix: ['tasks', 3, 'parameters'] },
      ],
      ['tasks'],
    );
    expect(answers.map((found) => found.map((p) => p.path))).toEqual([[['tasks', 0, 'parameters', 'a']], [], [], [['tasks', 3, 'parameters', 'a']]]);
  });
});

describe('ParameterValidator, off the main thread and within a time budget', () => {
  it('never sends a type whose schema accepts anything to the pool', async () => {
    // No thread and no queue: any call that reached the pool would be refused.
    const none = newValidator({ maxThreads: 0, maxQueue: 0 });
    await expect(none.validate(typeWith({}), { a: [1, 2, 3] })).resolves.toBeUndefined();
    await expect(none.checkSchema({})).resolves.toEqual([]);
    await expect(none.validate(typeWith({ type: 'object' }), {})).rejects.toBeInstanceOf(UnavailableError);
  });

  it('stops a validation over its budget and answers a ValidationError naming the budget', async () => {
    const validator = newValidator({ timeoutMs: 500 });
    const found = await problems(validator.validate(quadratic(), distinctObjects(20_000)));
    expect(found).toEqual([
      { path: ['parameters'], message: 'validation took longer than 500 ms; simplify the schema or the parameters', type: 'schema.timeout' },
    ]);
    // The stopped thread is replaced.
    expect(await problems(validator.validate(typeWith({ type: 'object', required: ['a'] }), {}))).toEqual([
      expect.objectContaining({ path: ['parameters', 'a'] }),
    ]);
  });

  it('stops a schema check over its budget', async () => {
    const validator = newValidator({ timeoutMs: 100 });
    const hugeEnum = { type: 'object', properties: { s: { enum: Array.from({ length: 20_000 }, (_, i) => `value-${i}`) } } };
    expect(await validator.checkSchema(hugeEnum)).toEqual([
      { path: ['parameters_schema'], message: 'compiling the schema took longer than 100 ms; simplify the schema', type: 'schema.timeout' },
    ]);
  });

  it('counts the budget from when a thread takes the job up, not while it waits in the queue', async () => {
    const validator = newValidator({ timeoutMs: 500, maxThreads: 1 });
    const slow = problems(validator.validate(quadratic(), distinctObjects(20_000)));
    // A later turn of the event loop: the slow job has gone to the only thread, in a call of its own.
    await new Promise((resolve) => setImmediate(resolve));
    // Waits for the slow job's 500 ms and for a new thread, then takes next to no time itself.
    const quick = problems(validator.validate(typeWith({ type: 'object', required: ['a'] }), { a: 1 }));
    expect(await quick).toEqual([]);
    expect(await slow).toEqual([expect.objectContaining({ type: 'schema.timeout' })]);
  });

  it('answers the other jobs sent with one that overruns: only that one is over budget', async () => {
    const validator = newValidator({ timeoutMs: 500 });
    const strict = typeWith({ type: 'object', required: ['a'] });
    // Asked for in one turn of the event loop: they go to a thread together, in this order.
    const answers = await Promise.all([
      problems(validator.validate(strict, { a: 1 })),
      problems(validator.validate(quadratic(), distinctObjects(20_000))),
      problems(validator.validate(strict, {})),
      validator.checkSchema({ type: 'nonsense' }),
    ]);
    expect(answers.map((found) => found.map((p) => p.type))).toEqual([
      [],
      ['schema.timeout'],
      ['schema.required'],
      expect.arrayContaining(['schema.enum']),
    ]);
  });

  it('refuses jobs with UnavailableError while its threads and queue are full', async () => {
    const validator = newValidator({ timeoutMs: 100, maxThreads: 1, maxQueue: 1 });
    const calls = [1, 2, 3].map(() => validator.validate(quadratic(), distinctObjects(20_000)));
    const outcomes = await Promise.allSettled(calls);
    expect(outcomes.map((o) => (o.status === 'rejected' ? (o.reason as Error).constructor.name : 'fulfilled'))).toEqual([
      'ValidationError',
      'ValidationError',
      'UnavailableError',
    ]);
  });
});
