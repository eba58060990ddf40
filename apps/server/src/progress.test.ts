/**
 * Progress and history over HTTP: a heartbeat carrying progress and a message (REST and tRPC,
 * one schema), 422 naming the field when they break the rules, and GET /api/tasks/{id}/attempts
 * (tRPC tasks.attempts). What the store keeps, and when, is tested per engine in
 * packages/db/src/contract (progress and attempts).
 */
import { describe, expect, it } from 'vitest';
import { ISO_UTC, lease, locs, useQueueServer } from './http-testing.js';

const api = useQueueServer();
const { newType, createTask, claim, getTask } = api;

/** A task of a new type, claimed by `worker`. */
async function claimedTask(worker: string) {
  const type = await newType();
  await createTask({ task_type_id: type.id });
  const [claimed] = await claim({ worker_id: worker, task_type_ids: [type.id] });
  return claimed!;
}

describe('POST /api/tasks/{task_id}/heartbeat with progress', () => {
  it('keeps the progress and message on the task and its attempt', async () => {
    const claimed = await claimedTask('w-progress');
    const beat = await api.request('POST', `/api/tasks/${claimed.id}/heartbeat`, { ...lease(claimed), progress: 50, message: 'half' });
    expect(beat.status, beat.text).toBe(200);
    expect(beat.body).toMatchObject({ status: 'running', progress: 50, progress_message: 'half' });
    expect(await getTask(claimed.id)).toMatchObject({ progress: 50, progress_message: 'half' });

    // A plain heartbeat keeps them; a progress alone clears the message.
    expect((await api.request('POST', `/api/tasks/${claimed.id}/heartbeat`, lease(claimed))).body).toMatchObject({ progress: 50, progress_message: 'half' });
    expect((await api.request('POST', `/api/tasks/${claimed.id}/heartbeat`, { ...lease(claimed), progress: 62.5 })).body).toMatchObject({
      progress: 62.5,
      progress_message: null,
    });
    const attempts = await api.request('GET', `/api/tasks/${claimed.id}/attempts`);
    expect(attempts.body).toEqual([expect.objectContaining({ progress: 62.5, progress_message: null, heartbeats: 3 })]);
  });

  it('is the same operation over tRPC', async () => {
    const claimed = await claimedTask('w-progress-trpc');
    const res = await api.request('POST', '/trpc/tasks.heartbeat', { task_id: claimed.id, ...lease(claimed), progress: 75, message: 'rendering' });
    expect(res.status, res.text).toBe(200);
    expect(res.body.result.data).toMatchObject({ id: claimed.id, progress: 75, progress_message: 'rendering' });
    expect(await getTask(claimed.id)).toMatchObject({ progress: 75, progress_message: 'rendering' });
  });

  it.each([
    ['progress 101', { progress: 101 }, 'progress'],
    ['progress -1', { progress: -1 }, 'progress'],
    ['progress as text', { progress: 'x' }, 'progress'],
    ['progress as a numeral', { progress: '50' }, 'progress'],
    ['a message over 1000 characters', { progress: 1, message: 'm'.repeat(1001) }, 'message'],
    ['a message without progress', { message: 'what' }, 'message'],
    ['a message that is not text', { progress: 1, message: 5 }, 'message'],
  ])('answers 422 naming the field for %s, over REST and tRPC, and changes nothing', async (_case, report, field) => {
    const claimed = await claimedTask('w-progress-invalid');
    const rest = await api.request('POST', `/api/tasks/${claimed.id}/heartbeat`, { ...lease(claimed), ...report });
    expect(rest.status, rest.text).toBe(422);
    expect(locs(rest)).toEqual([['body', field]]);
    const trpc = await api.request('POST', '/trpc/tasks.heartbeat', { task_id: claimed.id, ...lease(claimed), ...report });
    expect(trpc.status, trpc.text).toBe(422);
    expect(JSON.stringify(trpc.body.error.data.detail)).toContain(field);
    expect(await getTask(claimed.id)).toMatchObject({ progress: null, progress_message: null, lease_expires_at: claimed.lease_expires_at });
  });

  it('takes the bounds: 0, 100 and a message of 1000 characters', async () => {
    const claimed = await claimedTask('w-progress-bounds');
    for (const report of [{ progress: 0, message: 'm'.repeat(1000) }, { progress: 100 }]) {
      const res = await api.request('POST', `/api/tasks/${claimed.id}/heartbeat`, { ...lease(claimed), ...report });
      expect(res.status, res.text).toBe(200);
      expect(res.body).toMatchObject({ progress: report.progress });
    }
  });
});

describe('GET /api/tasks/{task_id}/attempts', () => {
  it('lists each attempt, oldest first: the failed one with its error and worker, then the running one', async () => {
    const type = await newType({ max_attempts: 3, retry_base_seconds: 0 });
    const task = await createTask({ task_type_id: type.id });
    expect((await api.request('GET', `/api/tasks/${task.id}/attempts`)).body).toEqual([]);

    const [first] = await claim({ worker_id: 'w-one', task_type_ids: [type.id] });
    await api.request('POST', `/api/tasks/${task.id}/heartbeat`, { ...lease(first!), progress: 30, message: 'parsing' });
    const failed = await api.request('POST', `/api/tasks/${task.id}/fail`, { ...lease(first!), error_message: 'parser crashed' });
    expect(failed.body).toMatchObject({ status: 'pending' });
    const [second] = await claim({ worker_id: 'w-two', task_type_ids: [type.id] });
    expect(second).toMatchObject({ id: task.id, progress: null, progress_message: null });

    const res = await api.request('GET', `/api/tasks/${task.id}/attempts`);
    expect(res.status, res.text).toBe(200);
    expect(res.body).toEqual([
      {
        task_id: task.id,
        attempt: 1,
        worker_id: 'w-one',
        lease_id: first!.lease_id,
        claimed_at: first!.started_at,
        heartbeats: 1,
        progress: 30,
        progress_message: 'parsing',
        finished_at: expect.stringMatching(ISO_UTC),
        outcome: 'failed',
        error_message: 'parser crashed',
      },
      {
        task_id: task.id,
        attempt: 2,
        worker_id: 'w-two',
        lease_id: second!.lease_id,
        claimed_at: second!.started_at,
        heartbeats: 0,
        progress: null,
        progress_message: null,
        finished_at: null,
        outcome: null,
        error_message: null,
      },
    ]);

    const trpc = await api.request('GET', `/trpc/tasks.attempts?input=${encodeURIComponent(JSON.stringify({ task_id: task.id }))}`);
    expect(trpc.status, trpc.text).toBe(200);
    expect(trpc.body.result.data).toEqual(res.body);
  });

  it('answers 404 with a detail for a task that does not exist, and once the task is deleted', async () => {
    const missing = await api.request('GET', '/api/tasks/987654321/attempts');
    expect(missing.status).toBe(404);
    expect(missing.body).toEqual({ detail: 'Task 987654321 not found' });

    const claimed = await claimedTask('w-deleted');
    await api.request('POST', `/api/tasks/${claimed.id}/complete`, lease(claimed));
    expect((await api.request('DELETE', `/api/tasks/${claimed.id}`)).status).toBe(204);
    expect((await api.request('GET', `/api/tasks/${claimed.id}/attempts`)).status).toBe(404);
  });

  it('answers 422 for an id that is not a positive integer', async () => {
    const res = await api.request('GET', '/api/tasks/abc/attempts');
    expect(res.status).toBe(422);
    expect(locs(res)).toEqual([['path', 'task_id']]);
  });
});
