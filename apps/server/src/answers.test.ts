/**
 * The tasks in the queue's hot answers (batch create, claim, exchange) are sent as the store built
 * them, without a check against the Task schema at run time (uncheckedTasks in
 * packages/api/src/schemas.ts): every one must carry exactly the documented fields, of the
 * documented types, over REST and tRPC, on either engine.
 */
import { Task } from '@prismq/api';
import { describe, expect, it } from 'vitest';
import { useQueueServer } from './http-testing.js';

const api = useQueueServer();
const { newType, createTask } = api;

/** Fails unless `task` is exactly a Task as the schema documents it: no field missing, none added. */
function expectDocumented(task: unknown) {
  expect(Object.keys(task as object).sort()).toEqual(Object.keys(Task.shape).sort());
  expect(Task.strict().safeParse(task).error).toBeUndefined();
}

describe('tasks in the hot answers', () => {
  it('carry exactly the documented fields, over REST and tRPC', async () => {
    const type = await newType({ max_attempts: 2 });
    const batch = await api.request('POST', '/api/tasks/batch', {
      tasks: [
        { task_type_id: type.id, parameters: { n: 1 }, metadata: { team: 'a' }, idempotency_key: 'k-1' },
        { task_type_id: type.id, priority: 5 },
        { task_type_id: type.id },
      ],
    });
    expect(batch.status).toBe(201);
    batch.body.forEach(expectDocumented);
    const trpcBatch = await api.request('POST', '/trpc/tasks.createBatch', { tasks: [{ task_type_id: type.id, delay_seconds: 0 }] });
    trpcBatch.body.result.data.forEach(expectDocumented);

    const claimed = await api.request('POST', '/api/tasks/claim', { worker_id: 'w-answers', task_type_ids: [type.id], limit: 2 });
    expect(claimed.body).toHaveLength(2);
    claimed.body.forEach(expectDocumented);

    const exchanged = await api.request('POST', '/api/tasks/exchange', {
      worker_id: 'w-answers',
      task_type_ids: [type.id],
      limit: 2,
      completed: [{ task_id: claimed.body[0].id, lease_id: claimed.body[0].lease_id, result: { ok: true } }],
      failed: [{ task_id: claimed.body[1].id, lease_id: claimed.body[1].lease_id, error_message: 'again' }],
    });
    expect(exchanged.body.tasks).toHaveLength(2);
    exchanged.body.tasks.forEach(expectDocumented);

    await createTask({ task_type_id: type.id });
    const trpcExchange = await api.request('POST', '/trpc/tasks.exchange', { worker_id: 'w-answers', task_type_ids: [type.id], limit: 5 });
    expect(trpcExchange.body.result.data.tasks.length).toBeGreaterThan(0);
    trpcExchange.body.result.data.tasks.forEach(expectDocumented);
  });
});
