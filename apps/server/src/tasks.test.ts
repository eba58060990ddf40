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

  it('defaults priority to 100 and parameters and metadata to {}', async () => {
    const res = await server.request('POST', '/api/tasks', { task_type_id: typeId });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ priority: 100, parameters: {}, metadata: {} });
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
  it('lists newest first and filters by type, status and limit', async () => {
    const a = await newTypeId('list_a');
    const b = await newTypeId('list_b');
    const ids: number[] = [];
    for (let i = 0; i < 5; i++) {
      const res = await server.request('POST', '/api/tasks', { task_type_id: i % 2 ? b : a, priority: 10 + i });
      ids.push(res.body.id);
    }
    await server.request('PUT', `/api/tasks/${ids[0]}`, { status: 'running' });

    const ofA = await server.request('GET', `/api/tasks?task_type_id=${a}`);
    expect(ofA.status).toBe(200);
    expect(ofA.body.map((t: { id: number }) => t.id)).toEqual([ids[4], ids[2], ids[0]]);

    const running = await server.request('GET', `/api/tasks?task_type_id=${a}&status=running`);
    expect(running.body.map((t: { id: number }) => t.id)).toEqual([ids[0]]);

    const pendingB = await server.request('GET', `/api/tasks?status=pending&task_type_id=${b}`);
    expect(pendingB.body.map((t: { id: number }) => t.id)).toEqual([ids[3], ids[1]]);

    const two = await server.request('GET', '/api/tasks?limit=2');
    expect(two.body.map((t: { id: number }) => t.id)).toEqual([ids[4], ids[3]]);
  });

  it('returns at most 100 tasks by default', async () => {
    const id = await newTypeId('many');
    for (let i = 0; i < 105; i++) await server.request('POST', '/api/tasks', { task_type_id: id });
    const res = await server.request('GET', `/api/tasks?task_type_id=${id}`);
    expect(res.body).toHaveLength(100);
    const all = await server.request('GET', `/api/tasks?task_type_id=${id}&limit=1000`);
    expect(all.body).toHaveLength(105);
  });

  it('returns an empty list for a type without tasks', async () => {
    const res = await server.request('GET', '/api/tasks?task_type_id=424242');
    expect(res.status).toBe(200);
    expect(res.body).toEqual([]);
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
  it('returns the task', async () => {
    const created = await server.request('POST', '/api/tasks', { task_type_id: typeId });
    const res = await server.request('GET', `/api/tasks/${created.body.id}`);
    expect(res.status).toBe(200);
    expect(res.body).toEqual(created.body);
  });

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
  it('follows the documented flow: running sets started_at, completed sets completed_at', async () => {
    const created = await server.request('POST', '/api/tasks', { task_type_id: typeId, priority: 10 });
    const running = await server.request('PUT', `/api/tasks/${created.body.id}`, { status: 'running' });
    expect(running.status).toBe(200);
    expect(running.body).toMatchObject({ status: 'running', completed_at: null, priority: 10 });
    expect(running.body.started_at).toMatch(ISO_UTC);
    expect(running.body.updated_at).toMatch(ISO_UTC);

    const result = { clusters: 5, output_path: '/results/clusters.json' };
    const done = await server.request('PUT', `/api/tasks/${created.body.id}`, { status: 'completed', result });
    expect(done.status).toBe(200);
    expect(done.body).toMatchObject({ status: 'completed', result, started_at: running.body.started_at });
    expect(done.body.completed_at).toMatch(ISO_UTC);
    expect((await server.request('GET', `/api/tasks/${created.body.id}`)).body).toEqual(done.body);
  });

  it.each(['failed', 'cancelled'])('sets completed_at when the status becomes %s', async (status) => {
    const created = await server.request('POST', '/api/tasks', { task_type_id: typeId });
    const res = await server.request('PUT', `/api/tasks/${created.body.id}`, { status, error_message: 'boom' });
    expect(res.body).toMatchObject({ status, error_message: 'boom', started_at: null });
    expect(res.body.completed_at).toMatch(ISO_UTC);
  });

  it('leaves absent fields alone and can clear result with null', async () => {
    const created = await server.request('POST', '/api/tasks', {
      task_type_id: typeId,
      parameters: { p: 1 },
      metadata: { m: 1 },
      priority: 7,
    });
    const id = created.body.id;
    const withResult = await server.request('PUT', `/api/tasks/${id}`, { result: [1, 'two', { three: 3 }] });
    expect(withResult.body).toMatchObject({ parameters: { p: 1 }, metadata: { m: 1 }, priority: 7, status: 'pending' });
    expect(withResult.body.result).toEqual([1, 'two', { three: 3 }]);

    const changed = await server.request('PUT', `/api/tasks/${id}`, { priority: 3, parameters: { p: 2 } });
    expect(changed.body).toMatchObject({ priority: 3, parameters: { p: 2 }, metadata: { m: 1 } });
    expect(changed.body.result).toEqual([1, 'two', { three: 3 }]);

    const cleared = await server.request('PUT', `/api/tasks/${id}`, { result: null });
    expect(cleared.body.result).toBeNull();
  });

  it('sets updated_at even for an empty update', async () => {
    const created = await server.request('POST', '/api/tasks', { task_type_id: typeId });
    const res = await server.request('PUT', `/api/tasks/${created.body.id}`, {});
    expect(res.status).toBe(200);
    expect(res.body.updated_at).toMatch(ISO_UTC);
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
