/**
 * POST /api/tasks/exchange (tRPC tasks.exchange), a worker's turn in one request: it settles
 * the attempts given, reports per task the ones it may no longer settle, claims the next tasks in
 * the same transaction, and waits for tasks only once its settlements are committed. What an
 * exchange does to the store is tested per engine in packages/db/src/contract/exchange.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { locs, useQueueServer } from './http-testing.js';

const api = useQueueServer();
const { newType, createTask, claim, getTask } = api;

describe('POST /api/tasks/exchange', () => {
  it('completes and fails the attempts given, then claims up to limit, in one request', async () => {
    const type = await newType({ max_attempts: 1 });
    const [a, b, c] = [await createTask({ task_type_id: type.id }), await createTask({ task_type_id: type.id }), await createTask({ task_type_id: type.id })];
    const [ca, cb] = await claim({ worker_id: 'w-ex', task_type_ids: [type.id], limit: 2 });

    const res = await api.request('POST', '/api/tasks/exchange', {
      worker_id: 'w-ex',
      task_type_ids: [type.id],
      limit: 5,
      completed: [{ task_id: a.id, lease_id: ca!.lease_id, result: { rows: 3 } }],
      failed: [{ task_id: b.id, lease_id: cb!.lease_id, error_message: 'disk on fire', retry: false }],
    });
    expect(res.status, res.text).toBe(200);
    expect(res.body.settled).toEqual([
      { task_id: a.id, status: 'completed' },
      { task_id: b.id, status: 'failed' },
    ]);
    expect(res.body.tasks).toEqual([expect.objectContaining({ id: c.id, status: 'running', worker_id: 'w-ex', lease_id: expect.any(String) })]);
    expect(await getTask(a.id)).toMatchObject({ status: 'completed', result: { rows: 3 } });
    expect(await getTask(b.id)).toMatchObject({ status: 'failed', error_message: 'disk on fire' });
  });

  it('answers a settlement it refuses with the status its own operation would give, and settles the others', async () => {
    const type = await newType();
    const task = await createTask({ task_type_id: type.id });
    const other = await createTask({ task_type_id: type.id });
    const [first, second] = await claim({ worker_id: 'w-lost', task_type_ids: [type.id], limit: 2 });
    expect(first!.id).toBe(task.id);
    await api.request('POST', `/api/tasks/${task.id}/cancel`);

    const res = await api.request('POST', '/api/tasks/exchange', {
      worker_id: 'w-lost',
      completed: [
        { task_id: task.id, lease_id: first!.lease_id },
        { task_id: 987_654_321, lease_id: 'none' },
        { task_id: other.id, lease_id: second!.lease_id, result: 'fine' },
      ],
    });
    expect(res.status, res.text).toBe(200);
    expect(res.body).toEqual({
      settled: [
        { task_id: task.id, error: { status: 409, detail: expect.stringMatching(/is not leased to worker 'w-lost'.*it is cancelled/) } },
        { task_id: 987_654_321, error: { status: 404, detail: 'Task 987654321 not found' } },
        { task_id: other.id, status: 'completed' },
      ],
      // limit defaults to 0: nothing claimed.
      tasks: [],
    });
  });

  it('commits its settlements before it waits, then answers with a task created meanwhile', async () => {
    const type = await newType();
    const task = await createTask({ task_type_id: type.id });
    const [claimed] = await claim({ worker_id: 'w-wait', task_type_ids: [type.id] });
    const exchanging = api.request('POST', '/api/tasks/exchange', {
      worker_id: 'w-wait',
      task_type_ids: [type.id],
      limit: 1,
      wait_seconds: 10,
      completed: [{ task_id: task.id, lease_id: claimed!.lease_id }],
    });
    // Settled while the exchange still waits for a task.
    await expect.poll(async () => (await getTask(task.id)).status).toBe('completed');
    const next = await createTask({ task_type_id: type.id });
    const res = await exchanging;
    expect(res.status, res.text).toBe(200);
    expect(res.body.settled).toEqual([{ task_id: task.id, status: 'completed' }]);
    expect(res.body.tasks).toEqual([expect.objectContaining({ id: next.id, status: 'running', worker_id: 'w-wait' })]);
  });

  it('is the same operation over tRPC', async () => {
    const type = await newType();
    const task = await createTask({ task_type_id: type.id });
    const [claimed] = await claim({ worker_id: 'w-trpc', task_type_ids: [type.id] });
    const res = await api.request('POST', '/trpc/tasks.exchange', {
      worker_id: 'w-trpc',
      task_types: [type.name],
      limit: 1,
      completed: [{ task_id: task.id, lease_id: claimed!.lease_id, result: [1, 2] }],
    });
    expect(res.status, res.text).toBe(200);
    expect(res.body.result.data).toEqual({ settled: [{ task_id: task.id, status: 'completed' }], tasks: [] });
    expect(await getTask(task.id)).toMatchObject({ status: 'completed', result: [1, 2] });
  });

  it('answers 422 naming each field that breaks the input rules', async () => {
    const res = await api.request('POST', '/api/tasks/exchange', {
      worker_id: '',
      limit: 101,
      completed: Array.from({ length: 101 }, (_, i) => ({ task_id: i + 1, lease_id: 'x' })),
      failed: [{ task_id: 0, lease_id: '', error_message: '' }],
    });
    expect(res.status).toBe(422);
    expect(locs(res)).toEqual(
      expect.arrayContaining([
        ['body', 'worker_id'],
        ['body', 'limit'],
        ['body', 'completed'],
        ['body', 'failed', 0, 'task_id'],
        ['body', 'failed', 0, 'lease_id'],
        ['body', 'failed', 0, 'error_message'],
      ]),
    );
  });
});
