import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './testing.js';

let server: TestServer;
let typeId: number;
beforeAll(async () => {
  server = await startTestServer();
  typeId = (await server.request('POST', '/api/task-types', { name: 'data_analysis' })).body.id;
});
afterAll(() => server.close());

const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;

async function newTypeId(name: string): Promise<number> {
  const res = await server.request('POST', '/api/task-types', { name });
  expect(res.status).toBe(201);
  return res.body.id;
}

describe('POST /api/tasks', () => {
  it('creates a pending task with 201 and the documented fields', async () => {
    const res = await server.request('POST', '/api/tasks', {
      task_type_id: typeId,
      parameters: { algorithm: 'kmeans', dataset_path: '/data/dataset.csv' },
      priority: 50,
      metadata: { user_id: 'user123' },
    });
    expect(res.status).toBe(201);
    // The documented fields, with their values; later additions to a task do not break callers.
    expect(res.body).toMatchObject({
      id: expect.any(Number),
      task_type_id: typeId,
      status: 'pending',
      parameters: { algorithm: 'kmeans', dataset_path: '/data/dataset.csv' },
      priority: 50,
      metadata: { user_id: 'user123' },
      result: null,
      error_message: null,
      created_at: expect.stringMatching(ISO_UTC),
      updated_at: null,
      started_at: null,
      completed_at: null,
    });
  });

  it('answers 404 for an unknown task type', async () => {
    const res = await server.request('POST', '/api/tasks', { task_type_id: 999 });
    expect(res.status).toBe(404);
    expect(res.body).toEqual({ detail: 'Task type 999 not found' });
  });

  it('answers 400 for an inactive task type', async () => {
    const id = await newTypeId('retired');
    await server.request('DELETE', `/api/task-types/${id}`);
    const res = await server.request('POST', '/api/tasks', { task_type_id: id });
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ detail: `Task type ${id} is not active` });
  });

  it('answers 201 for a new task and 200 with the same task for a repeated idempotency key', async () => {
    const first = await server.request('POST', '/api/tasks', { task_type_id: typeId, idempotency_key: 'order-42', priority: 7 });
    expect(first.status).toBe(201);
    expect(first.body.idempotency_key).toBe('order-42');
    const second = await server.request('POST', '/api/tasks', { task_type_id: typeId, idempotency_key: 'order-42', priority: 9 });
    expect(second.status).toBe(200);
    expect(second.body).toEqual(first.body);
  });

  it('stores a run_at with an offset in UTC and rejects run_at together with delay_seconds', async () => {
    const task = await server.request('POST', '/api/tasks', { task_type_id: typeId, run_at: '2030-01-01T12:00:00+02:00' });
    expect(task.status).toBe(201);
    expect(task.body.run_at).toBe('2030-01-01T10:00:00.000Z');

    const both = await server.request('POST', '/api/tasks', { task_type_id: typeId, run_at: new Date().toISOString(), delay_seconds: 5 });
    expect(both.status).toBe(422);
    expect(both.body.detail).toEqual(expect.arrayContaining([expect.objectContaining({ loc: ['body', 'delay_seconds'] })]));
  });

  it.each([
    ['priority 0', { priority: 0 }, ['body', 'priority']],
    ['priority 1001', { priority: 1001 }, ['body', 'priority']],
    ['a fractional priority', { priority: 2.5 }, ['body', 'priority']],
    ['a priority given as text', { priority: '5' }, ['body', 'priority']],
    ['parameters that are not an object', { parameters: [1, 2] }, ['body', 'parameters']],
    ['a task_type_id given as text', { task_type_id: 'one' }, ['body', 'task_type_id']],
    ['a missing task_type_id', { task_type_id: undefined }, ['body', 'task_type_id']],
  ])('answers 422 naming the field for %s', async (_case, patch, loc) => {
    const res = await server.request('POST', '/api/tasks', { task_type_id: typeId, ...patch });
    expect(res.status).toBe(422);
    expect(res.body.detail).toEqual(expect.arrayContaining([expect.objectContaining({ loc, msg: expect.any(String) })]));
  });

  it('accepts the priority bounds 1 and 1000', async () => {
    for (const priority of [1, 1000]) {
      const res = await server.request('POST', '/api/tasks', { task_type_id: typeId, priority });
      expect(res.status).toBe(201);
      expect(res.body.priority).toBe(priority);
    }
  });

  it('answers malformed JSON with 422, never 500', async () => {
    const res = await server.request('POST', '/api/tasks', '{"task_type_id": ');
    expect(res.status).toBe(422);
    expect(res.body.detail[0].type).toBe('json_invalid');
  });
});

describe('GET /api/tasks', () => {
  it('filters by the task_type_id, status and limit in the query', async () => {
    const a = await newTypeId('list_a');
    const ids: number[] = [];
    for (let i = 0; i < 3; i++) ids.push((await server.request('POST', '/api/tasks', { task_type_id: a })).body.id);
    await server.request('PUT', `/api/tasks/${ids[0]}`, { status: 'running' });

    const pending = await server.request('GET', `/api/tasks?task_type_id=${a}&status=pending`);
    expect(pending.status).toBe(200);
    expect(pending.body.map((t: { id: number }) => t.id)).toEqual([ids[2], ids[1]]);
    const one = await server.request('GET', `/api/tasks?status=pending&task_type_id=${a}&limit=1`);
    expect(one.body.map((t: { id: number }) => t.id)).toEqual([ids[2]]);
  });

  it('returns at most 100 tasks by default', async () => {
    const id = await newTypeId('many');
    for (let i = 0; i < 105; i++) await server.request('POST', '/api/tasks', { task_type_id: id });
    const res = await server.request('GET', `/api/tasks?task_type_id=${id}`);
    expect(res.body).toHaveLength(100);
    const all = await server.request('GET', `/api/tasks?task_type_id=${id}&limit=1000`);
    expect(all.body).toHaveLength(105);
  });

  it.each([
    ['limit=0', 'limit'],
    ['limit=1001', 'limit'],
    ['limit=ten', 'limit'],
    ['status=done', 'status'],
    ['task_type_id=x', 'task_type_id'],
  ])('answers 422 for %s naming the query field', async (query, field) => {
    const res = await server.request('GET', `/api/tasks?${query}`);
    expect(res.status).toBe(422);
    expect(res.body.detail[0].loc).toEqual(['query', field]);
  });
});

describe('GET /api/tasks/{task_id}', () => {
  it('answers 404 with the documented detail', async () => {
    const res = await server.request('GET', '/api/tasks/999999');
    expect(res.status).toBe(404);
    expect(res.body).toEqual({ detail: 'Task 999999 not found' });
  });

  it('answers 422 for an id that is not an integer', async () => {
    const res = await server.request('GET', '/api/tasks/abc');
    expect(res.status).toBe(422);
    expect(res.body.detail[0].loc).toEqual(['path', 'task_id']);
  });
});

describe('PUT /api/tasks/{task_id}', () => {
  it('answers 200 with the task as updated', async () => {
    const created = await server.request('POST', '/api/tasks', { task_type_id: typeId, priority: 10 });
    const result = { clusters: 5, output_path: '/results/clusters.json' };
    const done = await server.request('PUT', `/api/tasks/${created.body.id}`, { status: 'completed', result });
    expect(done.status).toBe(200);
    expect(done.body).toMatchObject({ status: 'completed', result, priority: 10, completed_at: expect.stringMatching(ISO_UTC) });
    expect((await server.request('GET', `/api/tasks/${created.body.id}`)).body).toEqual(done.body);
  });

  it('answers 404 for a missing task', async () => {
    const res = await server.request('PUT', '/api/tasks/999999', { status: 'running' });
    expect(res.status).toBe(404);
    expect(res.body).toEqual({ detail: 'Task 999999 not found' });
  });

  it.each([
    [{ status: 'done' }, 'status'],
    [{ priority: 0 }, 'priority'],
    [{ metadata: 5 }, 'metadata'],
    [{ error_message: 12 }, 'error_message'],
  ])('answers 422 for %j', async (body, field) => {
    const created = await server.request('POST', '/api/tasks', { task_type_id: typeId });
    const res = await server.request('PUT', `/api/tasks/${created.body.id}`, body);
    expect(res.status).toBe(422);
    expect(res.body.detail[0].loc).toEqual(['body', field]);
  });
});

describe('DELETE /api/tasks/{task_id}', () => {
  it('removes the task with 204 and an empty body', async () => {
    const created = await server.request('POST', '/api/tasks', { task_type_id: typeId });
    const res = await server.request('DELETE', `/api/tasks/${created.body.id}`);
    expect(res.status).toBe(204);
    expect(res.text).toBe('');
    expect((await server.request('GET', `/api/tasks/${created.body.id}`)).status).toBe(404);
  });

  it('answers 404 for a missing task', async () => {
    const res = await server.request('DELETE', '/api/tasks/999999');
    expect(res.status).toBe(404);
    expect(res.body).toEqual({ detail: 'Task 999999 not found' });
  });
});

describe('GET /api/tasks with large tasks', () => {
  it('stops a page at about 8 MiB of task JSON, the same over REST and tRPC, so that any page can be sent', async () => {
    const big = await startTestServer();
    try {
      const type = (await big.request('POST', '/api/task-types', { name: 'large' })).body.id;
      const field = (letter: string) => ({ blob: letter.repeat(250 * 1024) });
      // Each task stores about 800 KB of JSON: twelve of them make a page of 9.6 MB.
      for (let i = 0; i < 12; i++) {
        const created = await big.request('POST', '/api/tasks', { task_type_id: type, parameters: field('p'), metadata: field('m') });
        expect(created.status).toBe(201);
        const updated = await big.request('PUT', `/api/tasks/${created.body.id}`, { result: field('r'), error_message: 'e'.repeat(60_000) });
        expect(updated.status).toBe(200);
      }
      const rest = await big.request('GET', '/api/tasks?limit=1000');
      expect(rest.status).toBe(200);
      const ids = (rest.body as { id: number }[]).map((task) => task.id);
      expect(ids.length).toBeGreaterThan(0);
      expect(ids.length).toBeLessThan(12);
      expect(rest.text.length).toBeLessThanOrEqual(8 * 1024 * 1024 + 64 * 1024);
      // Newest first, as always.
      expect(ids).toEqual([...ids].sort((a, b) => b - a));
      const trpc = await fetch(`${big.url}/trpc/tasks.list?input=${encodeURIComponent(JSON.stringify({ limit: 1000 }))}`);
      const trpcIds = ((await trpc.json()) as { result: { data: { id: number }[] } }).result.data.map((task) => task.id);
      expect(trpcIds).toEqual(ids);
    } finally {
      await big.close();
    }
  });
});
