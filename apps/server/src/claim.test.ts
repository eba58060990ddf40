/**
 * Claiming and settling over HTTP: the answers and their defaults (one task, a 60 s lease, a
 * failed attempt retried), 409 with a detail once a lease is lost, and 422 naming each field that
 * breaks the input rules. What a claim takes, in which order, and how leases behave is tested per
 * engine in packages/db/src/contract (claim, leases and retries).
 */
import { describe, expect, it } from 'vitest';
import { ISO_UTC, lease, locs, useQueueServer } from './http-testing.js';

const api = useQueueServer();
const { newType, createTask, claimRaw, claim } = api;

describe('POST /api/tasks/claim', () => {
  it('answers 200 with the claimed tasks: by default one, under a 60 s lease', async () => {
    const type = await newType();
    const first = await createTask({ task_type_id: type.id });
    await createTask({ task_type_id: type.id });
    const res = await claimRaw({ worker_id: 'worker-fields', task_type_ids: [type.id] });
    expect(res.status).toBe(200);
    expect(res.body).toHaveLength(1);
    const [claimed] = res.body;
    expect(claimed).toMatchObject({
      id: first.id,
      status: 'running',
      attempts: 1,
      worker_id: 'worker-fields',
      lease_id: expect.any(String),
      lease_expires_at: expect.stringMatching(ISO_UTC),
      started_at: expect.stringMatching(ISO_UTC),
    });
    expect(Date.parse(claimed.lease_expires_at) - Date.parse(claimed.started_at)).toBe(60_000);
  });
});

describe('heartbeat, complete and fail', () => {
  it('answer 200 with the task while the lease holds, and 409 with a detail once it is lost', async () => {
    const type = await newType();
    const task = await createTask({ task_type_id: type.id });
    const [claimed] = await claim({ worker_id: 'w-hb', task_type_ids: [type.id], lease_seconds: 5 });
    const beat = await api.request('POST', `/api/tasks/${task.id}/heartbeat`, { ...lease(claimed!), lease_seconds: 120 });
    expect(beat.status).toBe(200);
    expect(Date.parse(beat.body.lease_expires_at) - Date.now()).toBeGreaterThan(100_000);
    expect(beat.body).toMatchObject({ status: 'running', lease_id: claimed!.lease_id });

    const done = await api.request('POST', `/api/tasks/${task.id}/complete`, { ...lease(claimed!), result: { rows: 3 } });
    expect(done.status).toBe(200);
    expect(done.body).toMatchObject({ status: 'completed', result: { rows: 3 }, completed_at: expect.stringMatching(ISO_UTC), lease_expires_at: null });

    // Finished: the lease is gone.
    for (const [action, extra] of [['complete', {}], ['heartbeat', {}], ['fail', { error_message: 'x' }]] as const) {
      const late = await api.request('POST', `/api/tasks/${task.id}/${action}`, { ...lease(claimed!), ...extra });
      expect(late.status, action).toBe(409);
      expect(late.body.detail).toMatch(/is not leased to worker 'w-hb'/);
    }
  });

  it('fail retries the task by default, and fails it for good with retry false', async () => {
    const type = await newType({ max_attempts: 5, retry_base_seconds: 0 });
    const task = await createTask({ task_type_id: type.id });
    const [first] = await claim({ worker_id: 'w-fail', task_type_ids: [type.id] });
    const retried = await api.request('POST', `/api/tasks/${task.id}/fail`, { ...lease(first!), error_message: 'again' });
    expect(retried.status).toBe(200);
    expect(retried.body).toMatchObject({ status: 'pending', attempts: 1, error_message: 'again' });

    const [second] = await claim({ worker_id: 'w-fail', task_type_ids: [type.id] });
    const failed = await api.request('POST', `/api/tasks/${task.id}/fail`, { ...lease(second!), error_message: 'fatal', retry: false });
    expect(failed.status).toBe(200);
    expect(failed.body).toMatchObject({ status: 'failed', attempts: 2, error_message: 'fatal', completed_at: expect.stringMatching(ISO_UTC) });
  });
});

describe('claim input validation', () => {
  it.each([
    ['limit 0', { limit: 0 }, 'limit'],
    ['limit 101', { limit: 101 }, 'limit'],
    ['lease_seconds 0', { lease_seconds: 0 }, 'lease_seconds'],
    ['lease_seconds 3601', { lease_seconds: 3601 }, 'lease_seconds'],
    ['wait_seconds 31', { wait_seconds: 31 }, 'wait_seconds'],
    ['wait_seconds -1', { wait_seconds: -1 }, 'wait_seconds'],
    ['a missing worker_id', { worker_id: undefined }, 'worker_id'],
    ['an empty worker_id', { worker_id: '' }, 'worker_id'],
    ['a limit given as text', { limit: '5' }, 'limit'],
  ])('answers 422 naming the field for %s', async (_case, patch, field) => {
    const res = await claimRaw({ worker_id: 'w-valid', task_type_ids: [987654], ...patch });
    expect(res.status).toBe(422);
    expect(locs(res)).toContainEqual(['body', field]);
  });

  it.each([
    ['heartbeat', {}],
    ['complete', {}],
    ['fail', { error_message: 'x' }],
  ])('answers 422 for %s without a lease_id', async (action, extra) => {
    const type = await newType();
    const task = await createTask({ task_type_id: type.id });
    const res = await api.request('POST', `/api/tasks/${task.id}/${action}`, { worker_id: 'w', ...extra });
    expect(res.status).toBe(422);
    expect(locs(res)).toContainEqual(['body', 'lease_id']);
  });
});
