import { startTestServer, type TestServer } from '@prismq/server/testing';
import { afterAll, beforeAll, describe, expect, expectTypeOf, it } from 'vitest';
import { createPrismqClient, errorInfo, type PrismqClient, type Task } from './index.js';

let server: TestServer;
let client: PrismqClient;
beforeAll(async () => {
  server = await startTestServer();
  client = createPrismqClient({ url: `${server.url}/` });
});
afterAll(() => server.close());

/** Runs a call that must fail and returns what the error says. */
async function failure(call: Promise<unknown>) {
  const error = await call.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error, 'the call should have failed').toBeDefined();
  return { info: errorInfo(error), message: (error as Error).message };
}

describe('the typed client', () => {
  it('does the task type operations', async () => {
    const created = await client.taskTypes.create.mutate({
      name: 'video_processing',
      parameters_schema: { type: 'object' },
      metadata: { category: 'media' },
    });
    expect(created).toMatchObject({ name: 'video_processing', is_active: true, description: null, updated_at: null });
    expectTypeOf(created.is_active).toEqualTypeOf<boolean>();

    expect(await client.taskTypes.get.query({ task_type_id: created.id })).toEqual(created);
    const updated = await client.taskTypes.update.mutate({ task_type_id: created.id, description: 'videos' });
    expect(updated.description).toBe('videos');
    expect((await client.taskTypes.list.query({})).map((t) => t.name)).toContain('video_processing');

    await expect(client.taskTypes.delete.mutate({ task_type_id: created.id })).resolves.toBeUndefined();
    expect((await client.taskTypes.list.query({})).map((t) => t.name)).not.toContain('video_processing');
    expect((await client.taskTypes.list.query({ include_inactive: true })).map((t) => t.name)).toContain('video_processing');
  });

  it('does the task operations', async () => {
    const type = await client.taskTypes.create.mutate({ name: 'data_analysis' });
    const task = await client.tasks.create.mutate({ task_type_id: type.id, parameters: { algorithm: 'kmeans' }, priority: 10 });
    expectTypeOf(task).toEqualTypeOf<Task>();
    expect(task).toMatchObject({ status: 'pending', priority: 10, parameters: { algorithm: 'kmeans' } });

    const running = await client.tasks.update.mutate({ task_id: task.id, status: 'running' });
    expect(running.started_at).not.toBeNull();
    const done = await client.tasks.update.mutate({ task_id: task.id, status: 'completed', result: { clusters: 5 } });
    expect(done).toMatchObject({ status: 'completed', result: { clusters: 5 } });
    expect(done.completed_at).not.toBeNull();

    expect(await client.tasks.get.query({ task_id: task.id })).toEqual(done);
    const listed = await client.tasks.list.query({ task_type_id: type.id, status: 'completed', limit: 5 });
    expect(listed.map((t) => t.id)).toEqual([task.id]);

    await client.tasks.delete.mutate({ task_id: task.id });
    expect((await failure(client.tasks.get.query({ task_id: task.id }))).info).toMatchObject({ httpStatus: 404 });
  });

  it('batches calls made together into one request', async () => {
    const type = await client.taskTypes.create.mutate({ name: 'batched' });
    const tasks = await Promise.all(Array.from({ length: 5 }, (_, i) => client.tasks.create.mutate({ task_type_id: type.id, priority: i + 1 })));
    expect(tasks.map((t) => t.priority)).toEqual([1, 2, 3, 4, 5]);
  });

  it('reports errors with their status, code and detail', async () => {
    expect(await failure(client.tasks.get.query({ task_id: 999 }))).toEqual({
      info: { code: 'NOT_FOUND', httpStatus: 404, detail: 'Task 999 not found' },
      message: 'Task 999 not found',
    });

    await client.taskTypes.create.mutate({ name: 'twice' });
    expect((await failure(client.taskTypes.create.mutate({ name: 'twice' }))).info).toEqual({
      code: 'CONFLICT',
      httpStatus: 409,
      detail: "Task type 'twice' already exists",
    });

    const inactive = await client.taskTypes.create.mutate({ name: 'inactive' });
    await client.taskTypes.delete.mutate({ task_type_id: inactive.id });
    expect((await failure(client.tasks.create.mutate({ task_type_id: inactive.id }))).info).toMatchObject({
      code: 'BAD_REQUEST',
      httpStatus: 400,
    });

    const invalid = await failure(client.tasks.create.mutate({ task_type_id: inactive.id, priority: 5000 }));
    expect(invalid.info).toMatchObject({ httpStatus: 422, detail: [{ loc: ['input', 'priority'], type: 'too_big' }] });
    expect(invalid.message).toContain('priority');
  });

  it('rejects ill-typed input at compile time', () => {
    // @ts-expect-error priority is a number
    const call = () => client.tasks.create.mutate({ task_type_id: 1, priority: 'high' });
    expect(call).toBeTypeOf('function');
  });

  it('sends the configured headers through the given fetch', async () => {
    const seen: (string | null)[] = [];
    const recordingFetch: typeof fetch = async (input, init) => {
      seen.push(new Headers(init?.headers).get('x-service'));
      return fetch(input, init);
    };
    const withHeaders = createPrismqClient({ url: server.url, headers: () => ({ 'x-service': 'billing' }), fetch: recordingFetch });
    expect(await withHeaders.taskTypes.list.query({})).toEqual(expect.any(Array));
    expect(seen).toEqual(['billing']);
  });
});
