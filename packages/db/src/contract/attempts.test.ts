/**
 * A task's history (listAttempts): one attempt per claim, oldest first, each with its worker, its
 * heartbeats and how it ended, whichever way it ended: completed, failed (with the error), its
 * lease expired (claimed again, or swept), cancelled; an operator's retry counts from 1 again.
 * The attempts go with their task.
 */
import { describe, expect, it } from 'vitest';
import { NotFoundError } from '../errors.js';
import { forEachEngine } from './engines.js';
import { claimOne, claimWhenDue, ISO_UTC, leaseOf, leaseRunOut, newTask, newType, rejection, SHORT_LEASE, WAIT } from './fixtures.js';

/** An attempt that ended, as every engine records it. */
const ended = { finished_at: expect.stringMatching(ISO_UTC), claimed_at: expect.stringMatching(ISO_UTC) };

forEachEngine((engine) => {
  describe('listAttempts', () => {
    it('lists none for a task never claimed', async () => {
      const type = await newType(engine.store);
      const task = await newTask(engine.store, type);
      expect(await engine.store.listAttempts(task.id)).toEqual([]);
    });

    it('records an attempt that completed: its worker, lease, claim time and end', async () => {
      const type = await newType(engine.store);
      await newTask(engine.store, type);
      const claimed = await claimOne(engine.store, type, { worker_id: 'w-done' });
      const [running] = await engine.store.listAttempts(claimed.id);
      expect(running).toEqual({
        task_id: claimed.id,
        attempt: 1,
        worker_id: 'w-done',
        lease_id: claimed.lease_id,
        claimed_at: claimed.started_at,
        heartbeats: 0,
        progress: null,
        progress_message: null,
        finished_at: null,
        outcome: null,
        error_message: null,
      });
      const done = await engine.store.completeTask(claimed.id, leaseOf(claimed), { ok: true });
      expect(await engine.store.listAttempts(claimed.id)).toEqual([{ ...running, finished_at: done.updated_at, outcome: 'completed' }]);
    });

    it('records a failed attempt with its error and worker, then the retry that completed', async () => {
      const type = await newType(engine.store, { max_attempts: 3, retry_base_seconds: 0.05 });
      await newTask(engine.store, type);
      const first = await claimOne(engine.store, type, { worker_id: 'w-first' });
      await engine.store.failTask(first.id, leaseOf(first), 'disk full', true);
      const second = await claimWhenDue(engine.store, type, { worker_id: 'w-second' });
      await engine.store.completeTask(second.id, leaseOf(second), null);
      expect(await engine.store.listAttempts(first.id)).toEqual([
        { ...ended, task_id: first.id, attempt: 1, worker_id: 'w-first', lease_id: first.lease_id, heartbeats: 0, progress: null, progress_message: null, outcome: 'failed', error_message: 'disk full' },
        { ...ended, task_id: first.id, attempt: 2, worker_id: 'w-second', lease_id: second.lease_id, heartbeats: 0, progress: null, progress_message: null, outcome: 'completed', error_message: null },
      ]);
    });

    it('records a failure for good as failed', async () => {
      const type = await newType(engine.store, { max_attempts: 1 });
      await newTask(engine.store, type);
      const claimed = await claimOne(engine.store, type);
      await engine.store.failTask(claimed.id, leaseOf(claimed), 'bad input', false);
      expect(await engine.store.listAttempts(claimed.id)).toEqual([expect.objectContaining({ ...ended, outcome: 'failed', error_message: 'bad input' })]);
    });

    it('records a lease that expired and was claimed again by another worker as lease_expired', async () => {
      const type = await newType(engine.store, { max_attempts: 3 });
      await newTask(engine.store, type);
      const first = await claimOne(engine.store, type, { worker_id: 'w-slow', lease_seconds: SHORT_LEASE });
      await leaseRunOut(first);
      const second = await claimWhenDue(engine.store, type, { worker_id: 'w-next' });
      expect(second.id).toBe(first.id);
      expect(await engine.store.listAttempts(first.id)).toEqual([
        expect.objectContaining({ ...ended, attempt: 1, worker_id: 'w-slow', lease_id: first.lease_id, outcome: 'lease_expired', error_message: 'Lease expired' }),
        expect.objectContaining({ attempt: 2, worker_id: 'w-next', lease_id: second.lease_id, finished_at: null, outcome: null, error_message: null }),
      ]);
    });

    it('records a lease that expired and was swept as lease_expired', async () => {
      const type = await newType(engine.store, { max_attempts: 1 });
      const task = await newTask(engine.store, type);
      const claimed = await claimOne(engine.store, type, { lease_seconds: SHORT_LEASE });
      await leaseRunOut(claimed);
      await expect
        .poll(async () => {
          await engine.store.sweepExpiredLeases();
          return (await engine.store.getTask(task.id)).status;
        }, WAIT)
        .toBe('failed');
      expect(await engine.store.listAttempts(task.id)).toEqual([
        expect.objectContaining({ ...ended, attempt: 1, outcome: 'lease_expired', error_message: 'Lease expired after 1 of 1 attempts' }),
      ]);
    });

    it('records a running task that was cancelled as cancelled, with no error', async () => {
      const type = await newType(engine.store);
      await newTask(engine.store, type);
      const claimed = await claimOne(engine.store, type);
      const cancelled = await engine.store.cancelTask(claimed.id);
      expect(await engine.store.listAttempts(claimed.id)).toEqual([
        // When the task finished (its completed_at).
        expect.objectContaining({ attempt: 1, finished_at: cancelled.completed_at, outcome: 'cancelled', error_message: null }),
      ]);
    });

    it('counts attempts from 1 again after an operator’s retry, and keeps the earlier ones', async () => {
      const type = await newType(engine.store, { max_attempts: 1 });
      await newTask(engine.store, type);
      const first = await claimOne(engine.store, type, { worker_id: 'w-before' });
      await engine.store.failTask(first.id, leaseOf(first), 'upstream down', true);
      await engine.store.retryTask(first.id);
      const again = await claimOne(engine.store, type, { worker_id: 'w-after' });
      expect(await engine.store.listAttempts(first.id)).toEqual([
        expect.objectContaining({ attempt: 1, worker_id: 'w-before', lease_id: first.lease_id, outcome: 'failed', error_message: 'upstream down' }),
        expect.objectContaining({ attempt: 1, worker_id: 'w-after', lease_id: again.lease_id, outcome: null, finished_at: null }),
      ]);
    });

    it('counts the heartbeats of each attempt', async () => {
      const type = await newType(engine.store, { max_attempts: 2, retry_base_seconds: 0.05 });
      await newTask(engine.store, type);
      const first = await claimOne(engine.store, type);
      for (let beat = 0; beat < 3; beat++) await engine.store.heartbeatTask(first.id, leaseOf(first), 60);
      await engine.store.failTask(first.id, leaseOf(first), 'crashed', true);
      const second = await claimWhenDue(engine.store, type);
      await engine.store.heartbeatTask(second.id, leaseOf(second), 60);
      expect((await engine.store.listAttempts(first.id)).map((attempt) => attempt.heartbeats)).toEqual([3, 1]);
    });

    it('lists nothing once the task is deleted: NotFoundError', async () => {
      const type = await newType(engine.store);
      await newTask(engine.store, type);
      const claimed = await claimOne(engine.store, type);
      await engine.store.completeTask(claimed.id, leaseOf(claimed), null);
      await engine.store.deleteTask(claimed.id);
      const error = await rejection(engine.store.listAttempts(claimed.id));
      expect(error).toBeInstanceOf(NotFoundError);
      expect(error.message).toBe(`Task ${claimed.id} not found`);
    });

    it('answers NotFoundError for a task that never existed', async () => {
      const error = await rejection(engine.store.listAttempts(987_654_321));
      expect(error).toBeInstanceOf(NotFoundError);
      expect(error.message).toBe('Task 987654321 not found');
    });
  });
});
