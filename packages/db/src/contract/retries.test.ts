/**
 * Failed attempts: back to pending after an exponential backoff with equal jitter (between half
 * and all of base × 2^(attempt-1), at most the cap) while attempts remain and the worker asks for
 * a retry; failed for good otherwise. max_attempts comes from the task, else from its type.
 */
import { describe, expect, it } from 'vitest';
import type { Task } from '../types.js';
import { forEachEngine } from './engines.js';
import { claim, claimOne, claimWhenDue, ISO_UTC, leaseOf, msBetween, newTask, newType } from './fixtures.js';

/** Timestamps are kept to the millisecond, and an engine may read its clock twice in one write. */
const CLOCK_SLACK_MS = 25;

/** Expects `task` back to pending after a backoff of between half and all of `delayMs`. */
function expectBackoff(task: Task, delayMs: number): void {
  expect(task).toMatchObject({ status: 'pending', completed_at: null, lease_expires_at: null, updated_at: expect.stringMatching(ISO_UTC) });
  const backoff = msBetween(task.updated_at!, task.run_at);
  expect(backoff).toBeGreaterThanOrEqual(delayMs / 2 - CLOCK_SLACK_MS);
  expect(backoff).toBeLessThanOrEqual(delayMs + CLOCK_SLACK_MS);
}

forEachEngine((engine) => {
  describe('failTask', () => {
    it('backs off between attempts and fails the task for good after max_attempts', async () => {
      const type = await newType(engine.store, { max_attempts: 3, retry_base_seconds: 0.2, retry_max_seconds: 60 });
      const task = await newTask(engine.store, type);
      expect(task.max_attempts).toBe(3);

      let claimed = await claimOne(engine.store, type);
      for (let attempt = 1; attempt <= 2; attempt++) {
        expect(claimed).toMatchObject({ id: task.id, attempts: attempt });
        const failed = await engine.store.failTask(task.id, leaseOf(claimed), `boom ${attempt}`, true);
        expect(failed).toMatchObject({ attempts: attempt, error_message: `boom ${attempt}` });
        expectBackoff(failed, 200 * 2 ** (attempt - 1));
        claimed = await claimWhenDue(engine.store, type);
        expect(claimed.started_at! >= failed.run_at).toBe(true);
      }

      expect(claimed.attempts).toBe(3);
      const last = await engine.store.failTask(task.id, leaseOf(claimed), 'final boom', true);
      expect(last).toMatchObject({ status: 'failed', attempts: 3, error_message: 'final boom', completed_at: expect.stringMatching(ISO_UTC), lease_expires_at: null });
      expect(await claim(engine.store, type)).toEqual([]);
    });

    it('caps the backoff at retry_max_seconds', async () => {
      const type = await newType(engine.store, { max_attempts: 4, retry_base_seconds: 0.2, retry_max_seconds: 0.25 });
      const task = await newTask(engine.store, type);
      for (let attempt = 1; attempt <= 3; attempt++) {
        const claimed = await claimWhenDue(engine.store, type);
        expect(claimed).toMatchObject({ id: task.id, attempts: attempt });
        expectBackoff(await engine.store.failTask(task.id, leaseOf(claimed), 'again', true), Math.min(250, 200 * 2 ** (attempt - 1)));
      }
    });

    it('does not let the task be claimed before its backoff has passed', async () => {
      const type = await newType(engine.store, { retry_base_seconds: 600 });
      await newTask(engine.store, type);
      const claimed = await claimOne(engine.store, type);
      const failed = await engine.store.failTask(claimed.id, leaseOf(claimed), 'later', true);
      expectBackoff(failed, 600_000);
      expect(await claim(engine.store, type, { limit: 10 })).toEqual([]);
      expect(await engine.store.nextClaimableAt({ task_type_ids: [type.id] })).toBe(failed.run_at);
    });

    it('lets the task be claimed again at once with a backoff of 0', async () => {
      const type = await newType(engine.store, { retry_base_seconds: 0 });
      await newTask(engine.store, type);
      const claimed = await claimOne(engine.store, type);
      const failed = await engine.store.failTask(claimed.id, leaseOf(claimed), 'again', true);
      expect(failed.status).toBe('pending');
      expect(failed.run_at <= failed.updated_at!).toBe(true);
      expect(await claimOne(engine.store, type)).toMatchObject({ id: claimed.id, attempts: 2 });
    });

    it('fails the task at once with retry false, even with attempts left', async () => {
      const type = await newType(engine.store, { max_attempts: 5, retry_base_seconds: 0 });
      const task = await newTask(engine.store, type);
      const claimed = await claimOne(engine.store, type);
      const failed = await engine.store.failTask(task.id, leaseOf(claimed), 'fatal', false);
      expect(failed).toMatchObject({ status: 'failed', attempts: 1, error_message: 'fatal', completed_at: expect.stringMatching(ISO_UTC), lease_expires_at: null });
      expect(await claim(engine.store, type)).toEqual([]);
    });

    it('takes max_attempts from the task over its type’s', async () => {
      const type = await newType(engine.store, { max_attempts: 5, retry_base_seconds: 0 });
      const once = await newTask(engine.store, type, { max_attempts: 1, priority: 1 });
      expect(once.max_attempts).toBe(1);
      const claimed = await claimOne(engine.store, type);
      expect(await engine.store.failTask(once.id, leaseOf(claimed), 'once', true)).toMatchObject({ status: 'failed', attempts: 1 });

      const strict = await newType(engine.store, { max_attempts: 1, retry_base_seconds: 0 });
      const twice = await newTask(engine.store, strict, { max_attempts: 2 });
      const first = await claimOne(engine.store, strict);
      expect(await engine.store.failTask(twice.id, leaseOf(first), 'first', true)).toMatchObject({ status: 'pending', attempts: 1 });
      const second = await claimOne(engine.store, strict);
      expect(await engine.store.failTask(twice.id, leaseOf(second), 'second', true)).toMatchObject({ status: 'failed', attempts: 2 });
    });
  });
});
