/**
 * Input that breaks a rule answers 422 with a `{loc, msg, type}` problem per field, under
 * ["body", ...]: the retry policy of a type, a task's fields, and parameters or schemas that the
 * store refuses (its ValidationError paths, under "body"). Which parameters and schemas the store
 * refuses is tested per engine in packages/db/src/contract/validation.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { locs, useQueueServer } from './http-testing.js';

const api = useQueueServer();
const { newType, createTask, tasksOfType } = api;

describe('retry policy input', () => {
  it.each([
    [{ max_attempts: 0 }, 'max_attempts'],
    [{ max_attempts: 101 }, 'max_attempts'],
    [{ retry_base_seconds: -1 }, 'retry_base_seconds'],
    [{ retry_base_seconds: 86_401 }, 'retry_base_seconds'],
  ])('answers 422 for a task type with %j', async (patch, field) => {
    const res = await api.request('POST', '/api/task-types', { name: `policy_bad_${Date.now()}`, ...patch });
    expect(res.status).toBe(422);
    expect(locs(res)).toContainEqual(['body', field]);
  });

  it.each([
    [{ max_attempts: 0 }, 'max_attempts'],
    [{ max_attempts: 101 }, 'max_attempts'],
    [{ delay_seconds: -1 }, 'delay_seconds'],
    [{ run_at: 'tomorrow' }, 'run_at'],
    [{ idempotency_key: '' }, 'idempotency_key'],
  ])('answers 422 for a task with %j', async (patch, field) => {
    const type = await newType();
    const res = await api.request('POST', '/api/tasks', { task_type_id: type.id, ...patch });
    expect(res.status).toBe(422);
    expect(locs(res)).toContainEqual(['body', field]);
    expect(await tasksOfType(type.id)).toHaveLength(0);
  });
});

describe('parameter validation', () => {
  const schema = { type: 'object', properties: { algorithm: { enum: ['kmeans', 'dbscan'] }, k: { type: 'integer', minimum: 1 } }, required: ['dataset_path'] };

  it('answers 422 listing every violation under ["body","parameters",...]', async () => {
    const type = await newType({ parameters_schema: schema });
    const res = await api.request('POST', '/api/tasks', { task_type_id: type.id, parameters: { algorithm: 'svm', k: 0 } });
    expect(res.status).toBe(422);
    const found = locs(res);
    expect(found).toContainEqual(['body', 'parameters', 'dataset_path']);
    expect(found).toContainEqual(['body', 'parameters', 'algorithm']);
    expect(found).toContainEqual(['body', 'parameters', 'k']);
    for (const problem of res.body.detail) expect(problem).toMatchObject({ msg: expect.any(String), type: expect.any(String) });

    const ok = await api.request('POST', '/api/tasks', { task_type_id: type.id, parameters: { algorithm: 'kmeans', dataset_path: '/a.csv', k: 3 } });
    expect(ok.status).toBe(201);
  });

  it('answers 422 for a PUT with bad parameters', async () => {
    const type = await newType({ parameters_schema: schema });
    const task = await createTask({ task_type_id: type.id, parameters: { algorithm: 'kmeans', dataset_path: '/d' } });
    const res = await api.request('PUT', `/api/tasks/${task.id}`, { parameters: { algorithm: 'nope', dataset_path: '/d' }, priority: 9 });
    expect(res.status).toBe(422);
    expect(locs(res)).toEqual([['body', 'parameters', 'algorithm']]);
  });

  it('answers 422 for an invalid parameters_schema on create and update', async () => {
    const underSchema = (loc: unknown) => (loc as unknown[])[0] === 'body' && (loc as unknown[])[1] === 'parameters_schema';
    const bad = await api.request('POST', '/api/task-types', { name: `bad_schema_${Date.now()}`, parameters_schema: { type: 'nonsense' } });
    expect(bad.status).toBe(422);
    expect(locs(bad).some(underSchema)).toBe(true);

    const type = await newType({ parameters_schema: schema });
    const update = await api.request('PUT', `/api/task-types/${type.id}`, { parameters_schema: { type: 'nonsense' } });
    expect(update.status).toBe(422);
    expect(locs(update).some(underSchema)).toBe(true);
  });

  it('answers 422 for a parameters_schema that refers back to itself without end, on create, update and tRPC', async () => {
    const endless = { definitions: { a: { allOf: [{ $ref: '#/definitions/b' }] }, b: { anyOf: [{ $ref: '#/definitions/a' }] } }, $ref: '#/definitions/a' };
    const problem = { loc: ['body', 'parameters_schema'], msg: expect.stringContaining('refers back to itself without end'), type: 'schema.recursive' };
    const created = await api.request('POST', '/api/task-types', { name: `endless_${Date.now()}`, parameters_schema: endless });
    expect(created.status).toBe(422);
    expect(created.body).toEqual({ detail: [problem] });

    const type = await newType({ parameters_schema: schema });
    const update = await api.request('PUT', `/api/task-types/${type.id}`, { parameters_schema: { $ref: '#' } });
    expect(update.status).toBe(422);
    expect(update.body).toEqual({ detail: [problem] });

    const viaTrpc = await api.request('POST', '/trpc/taskTypes.create', { name: `endless_trpc_${Date.now()}`, parameters_schema: { $ref: '#' } });
    expect(viaTrpc.status).toBe(422);
  });

  it('lists at most 100 problems, and one that counts the others, however many an input has', async () => {
    const type = await newType({ parameters_schema: { type: 'object', properties: { a: { type: 'array', items: { type: 'string' } } } } });
    // 250 KB of parameters that break the schema 125,000 times.
    const parameters = { a: Array(125_000).fill(0) };
    const rest = await api.request('POST', '/api/tasks', { task_type_id: type.id, parameters });
    expect(rest.status).toBe(422);
    expect(rest.body.detail).toHaveLength(101);
    expect(rest.body.detail[0]).toEqual({ loc: ['body', 'parameters', 'a', '0'], msg: 'must be string', type: 'schema.type' });
    expect(rest.body.detail[100]).toEqual({ loc: ['body', 'parameters'], msg: '124,900 more problems not listed', type: 'too_many_problems' });
    const trpc = await api.request('POST', '/trpc/tasks.create', { task_type_id: type.id, parameters });
    expect(trpc.status).toBe(422);
    expect(trpc.body.error.data.detail).toHaveLength(101);
    expect(trpc.text.length).toBeLessThan(50_000);

    // Input the API's own schemas refuse: a batch of 1,000 tasks, each with two wrong fields.
    const tasks = Array.from({ length: 1000 }, () => ({ task_type_id: 'x', priority: 'high' }));
    const batch = await api.request('POST', '/api/tasks/batch', { tasks });
    expect(batch.status).toBe(422);
    expect(batch.body.detail).toHaveLength(101);
    expect(batch.body.detail[100]).toEqual({ loc: ['body'], msg: '1,900 more problems not listed', type: 'too_many_problems' });
    expect(await tasksOfType(type.id)).toHaveLength(0);
  });

  it('answers 422 for a backoff cap below its base', async () => {
    const res = await api.request('POST', '/api/task-types', { name: `policy_cap_${Date.now()}`, retry_base_seconds: 10, retry_max_seconds: 5 });
    expect(res.status).toBe(422);
    expect(locs(res)).toContainEqual(['body', 'retry_max_seconds']);
  });
});
