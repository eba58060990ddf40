/**
 * Progress: a heartbeat may carry how far the attempt got (0 to 100) and a message, kept on the
 * task and on its attempt; a heartbeat without one keeps them; a new claim, by any path, clears
 * them on the task (the earlier attempt keeps its own). Reports that break the rules are refused.
 */
import { describe, expect, it, vi } from 'vitest';
import type { TaskStore } from '../store.js';
import type { Task, TaskType } from '../types.js';
import { forEachEngine } from './engines.js';
import { claimOne, claimRequest, claimWhenDue, leaseOf, leaseRunOut, newTask, newType, pathsOf, problemsOf, rejection, SHORT_LEASE, WAIT } from './fixtures.js';

/**
 * A task whose first attempt reported 40 % and then failed: back to pending with its progress,
 * its retry due by the time this returns. `other`: a second task of the type, running under a
 * lease of worker `w`, for an exchange to settle.
 */
async function retryAfterProgress(store: TaskStore): Promise<{ type: TaskType; task: Task; other: Task }> {
  const type = await newType(store, { max_attempts: 5, retry_base_seconds: 0.05 });
  await newTask(store, type);
  const claimed = await claimOne(store, type);
  await store.heartbeatTask(claimed.id, leaseOf(claimed), 60, { progress: 40, message: 'first try' });
  await newTask(store, type, { priority: 1000 });
  const other = await claimOne(store, type);
  const failed = await store.failTask(claimed.id, leaseOf(claimed), 'crashed', true);
  expect(failed).toMatchObject({ status: 'pending', progress: 40, progress_message: 'first try' });
  await vi.waitFor(() => expect(Date.now()).toBeGreaterThan(Date.parse(failed.run_at)), WAIT);
  return { type, task: failed, other };
}

forEachEngine((engine) => {
  describe('heartbeatTask with progress', () => {
    it('keeps the progress and message on the task and its attempt', async () => {
      const type = await newType(engine.store);
      await newTask(engine.store, type);
      const claimed = await claimOne(engine.store, type);
      expect(claimed).toMatchObject({ progress: null, progress_message: null });

      const beat = await engine.store.heartbeatTask(claimed.id, leaseOf(claimed), 60, { progress: 50, message: 'half' });
      expect(beat).toMatchObject({ status: 'running', lease_id: claimed.lease_id, progress: 50, progress_message: 'half' });
      expect(await engine.store.getTask(claimed.id)).toEqual(beat);
      expect(await engine.store.listAttempts(claimed.id)).toEqual([expect.objectContaining({ progress: 50, progress_message: 'half', heartbeats: 1 })]);

      // Fractions are kept as given.
      expect(await engine.store.heartbeatTask(claimed.id, leaseOf(claimed), 60, { progress: 62.5, message: 'more' })).toMatchObject({ progress: 62.5 });
    });

    it('keeps both as they were on a heartbeat without a report, and clears the message of a report without one', async () => {
      const type = await newType(engine.store);
      await newTask(engine.store, type);
      const claimed = await claimOne(engine.store, type);
      await engine.store.heartbeatTask(claimed.id, leaseOf(claimed), 60, { progress: 10, message: 'downloading' });
      expect(await engine.store.heartbeatTask(claimed.id, leaseOf(claimed), 60)).toMatchObject({ progress: 10, progress_message: 'downloading' });
      expect(await engine.store.listAttempts(claimed.id)).toEqual([expect.objectContaining({ progress: 10, progress_message: 'downloading', heartbeats: 2 })]);

      expect(await engine.store.heartbeatTask(claimed.id, leaseOf(claimed), 60, { progress: 80 })).toMatchObject({ progress: 80, progress_message: null });
      expect(await engine.store.listAttempts(claimed.id)).toEqual([expect.objectContaining({ progress: 80, progress_message: null, heartbeats: 3 })]);
    });

    it('keeps the last progress on the task and the attempt once the attempt is settled', async () => {
      const type = await newType(engine.store);
      await newTask(engine.store, type);
      const claimed = await claimOne(engine.store, type);
      await engine.store.heartbeatTask(claimed.id, leaseOf(claimed), 60, { progress: 100, message: 'done' });
      expect(await engine.store.completeTask(claimed.id, leaseOf(claimed), null)).toMatchObject({ progress: 100, progress_message: 'done' });
      expect(await engine.store.listAttempts(claimed.id)).toEqual([expect.objectContaining({ outcome: 'completed', progress: 100, progress_message: 'done' })]);
    });

    it('refuses a progress outside 0 to 100, or not a number, and a message over 1000 characters, changing nothing', async () => {
      const type = await newType(engine.store);
      await newTask(engine.store, type);
      const claimed = await claimOne(engine.store, type);
      await engine.store.heartbeatTask(claimed.id, leaseOf(claimed), 60, { progress: 5, message: 'ok' });
      for (const progress of [-1, 100.5, Number.NaN, Number.POSITIVE_INFINITY, '50' as unknown as number]) {
        expect(pathsOf(await problemsOf(engine.store.heartbeatTask(claimed.id, leaseOf(claimed), 600, { progress })))).toEqual([['progress']]);
      }
      const long = 'x'.repeat(1001);
      expect(pathsOf(await problemsOf(engine.store.heartbeatTask(claimed.id, leaseOf(claimed), 600, { progress: 1, message: long })))).toEqual([['message']]);
      // The bounds themselves are fine.
      await engine.store.heartbeatTask(claimed.id, leaseOf(claimed), 60, { progress: 0, message: 'y'.repeat(1000) });
      expect(await engine.store.heartbeatTask(claimed.id, leaseOf(claimed), 60, { progress: 100 })).toMatchObject({ progress: 100 });
      expect((await engine.store.listAttempts(claimed.id))[0]!.heartbeats).toBe(3);
    });

    it('is refused like any heartbeat when the lease is lost, changing nothing', async () => {
      const type = await newType(engine.store);
      await newTask(engine.store, type);
      const claimed = await claimOne(engine.store, type);
      await engine.store.cancelTask(claimed.id);
      const error = await rejection(engine.store.heartbeatTask(claimed.id, leaseOf(claimed), 60, { progress: 90, message: 'late' }));
      expect(error).toMatchObject({ kind: 'conflict' });
      expect(await engine.store.getTask(claimed.id)).toMatchObject({ progress: null, progress_message: null });
    });
  });

  describe('a new claim clears the progress of the last attempt', () => {
    it('by claimTasks, the earlier attempt keeping its own', async () => {
      const { type, task } = await retryAfterProgress(engine.store);
      const again = await claimOne(engine.store, type);
      expect(again).toMatchObject({ id: task.id, attempts: 2, progress: null, progress_message: null });
      expect(await engine.store.getTask(task.id)).toMatchObject({ progress: null, progress_message: null });
      expect(await engine.store.listAttempts(task.id)).toEqual([
        expect.objectContaining({ attempt: 1, progress: 40, progress_message: 'first try', outcome: 'failed' }),
        expect.objectContaining({ attempt: 2, progress: null, progress_message: null, outcome: null }),
      ]);
    });

    it('by an exchange that completes another attempt and claims', async () => {
      const { type, task, other } = await retryAfterProgress(engine.store);
      const { settled, tasks } = await engine.store.exchange({ ...claimRequest(type), settle: [{ task_id: other.id, lease_id: other.lease_id!, outcome: 'completed' }] });
      expect(settled).toEqual([expect.objectContaining({ task_id: other.id, status: 'completed' })]);
      expect(tasks).toEqual([expect.objectContaining({ id: task.id, attempts: 2, progress: null, progress_message: null })]);
      expect(await engine.store.getTask(task.id)).toMatchObject({ progress: null, progress_message: null });
    });

    it('by an exchange that fails another attempt and claims', async () => {
      const { type, task, other } = await retryAfterProgress(engine.store);
      const failure = { task_id: other.id, lease_id: other.lease_id!, outcome: 'failed' as const, error_message: 'no', retry: false };
      const { settled, tasks } = await engine.store.exchange({ ...claimRequest(type), settle: [failure] });
      expect(settled).toEqual([expect.objectContaining({ task_id: other.id, status: 'failed' })]);
      expect(tasks).toEqual([expect.objectContaining({ id: task.id, attempts: 2, progress: null, progress_message: null })]);
      expect(await engine.store.getTask(task.id)).toMatchObject({ progress: null, progress_message: null });
    });

    it('by a claim that takes over an expired lease', async () => {
      const type = await newType(engine.store, { max_attempts: 3 });
      await newTask(engine.store, type);
      const first = await claimOne(engine.store, type, { lease_seconds: SHORT_LEASE });
      await engine.store.heartbeatTask(first.id, leaseOf(first), SHORT_LEASE, { progress: 70, message: 'stuck' });
      await leaseRunOut(await engine.store.getTask(first.id));
      const second = await claimWhenDue(engine.store, type, { worker_id: 'w-rescue' });
      expect(second).toMatchObject({ id: first.id, attempts: 2, progress: null, progress_message: null });
      expect(await engine.store.listAttempts(first.id)).toEqual([
        expect.objectContaining({ attempt: 1, progress: 70, progress_message: 'stuck', outcome: 'lease_expired' }),
        expect.objectContaining({ attempt: 2, progress: null }),
      ]);
    });
  });
});
