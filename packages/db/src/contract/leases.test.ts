/**
 * Leases: heartbeats extend them, settling ends them, they run out, and a lease that is no longer
 * held (expired and claimed again, settled, cancelled, taken by a newer claim) fences its worker
 * off with LeaseLostError. sweepExpiredLeases tidies the ones that ran out.
 */
import { describe, expect, it, vi } from 'vitest';
import { LeaseLostError } from '../errors.js';
import type { TaskStore } from '../store.js';
import type { Task } from '../types.js';
import { forEachEngine } from './engines.js';
import {
  claim,
  claimOne,
  claimWhenDue,
  ISO_UTC,
  leaseOf,
  leaseRunOut,
  msBetween,
  newTask,
  newType,
  rejection,
  SHORT_LEASE,
  WAIT,
} from './fixtures.js';

/** Every way the holder of `lease` might settle or extend the task: each must fail with LeaseLostError. */
async function expectFencedOff(store: TaskStore, task: Task): Promise<void> {
  const lease = leaseOf(task);
  // One at a time: a rejection that nothing awaits yet would be reported as unhandled.
  for (const attempt of [
    () => store.heartbeatTask(task.id, lease, 60),
    () => store.completeTask(task.id, lease, { late: true }),
    () => store.failTask(task.id, lease, 'late', true),
  ]) {
    const error = await rejection(attempt());
    expect(error).toBeInstanceOf(LeaseLostError);
    expect(error).toMatchObject({ kind: 'conflict', message: expect.stringContaining(`Task ${task.id} is not leased to worker '${lease.worker_id}'`) });
  }
}

forEachEngine((engine) => {
  describe('a held lease', () => {
    it('is extended by a heartbeat, from now, under the same lease id', async () => {
      const type = await newType(engine.store);
      await newTask(engine.store, type);
      const claimed = await claimOne(engine.store, type, { lease_seconds: 5 });
      const beat = await engine.store.heartbeatTask(claimed.id, leaseOf(claimed), 120);
      expect(beat).toMatchObject({ id: claimed.id, status: 'running', attempts: 1, lease_id: claimed.lease_id, worker_id: claimed.worker_id });
      expect(msBetween(beat.updated_at!, beat.lease_expires_at!)).toBe(120_000);
      expect(await engine.store.getTask(claimed.id)).toEqual(beat);
    });

    it('is settled by completing the task with a result, which ends it', async () => {
      const type = await newType(engine.store);
      await newTask(engine.store, type);
      const claimed = await claimOne(engine.store, type);
      const done = await engine.store.completeTask(claimed.id, leaseOf(claimed), { rows: 3 });
      expect(done).toMatchObject({ status: 'completed', result: { rows: 3 }, attempts: 1, completed_at: expect.stringMatching(ISO_UTC), lease_expires_at: null });
      await expectFencedOff(engine.store, claimed);
      expect(await engine.store.getTask(claimed.id)).toEqual(done);
    });

    it('keeps no result when the worker gives none', async () => {
      const type = await newType(engine.store);
      await newTask(engine.store, type, { priority: 1 });
      await newTask(engine.store, type, { priority: 2 });
      const [first, second] = await claim(engine.store, type, { limit: 2 });
      expect((await engine.store.completeTask(first!.id, leaseOf(first!), undefined)).result).toBeNull();
      expect((await engine.store.completeTask(second!.id, leaseOf(second!), null)).result).toBeNull();
    });

    it('keeps the task from every other claim while it holds', async () => {
      const type = await newType(engine.store);
      const task = await newTask(engine.store, type);
      await claimOne(engine.store, type, { worker_id: 'holder' });
      expect(await claim(engine.store, type, { worker_id: 'other', limit: 10 })).toEqual([]);
      expect(await engine.store.getTask(task.id)).toMatchObject({ worker_id: 'holder', attempts: 1 });
    });

    it('is not the worker’s to heartbeat with the right lease id under another worker id', async () => {
      const type = await newType(engine.store);
      await newTask(engine.store, type);
      const claimed = await claimOne(engine.store, type, { worker_id: 'worker-real' });
      const impostor = { ...claimed, worker_id: 'worker-impostor' };
      await expectFencedOff(engine.store, impostor);
      expect(await engine.store.getTask(claimed.id)).toEqual(claimed);
    });
  });

  describe('an expired lease', () => {
    it('lets another worker claim the task as its next attempt, and fences off the first worker', async () => {
      const type = await newType(engine.store);
      const task = await newTask(engine.store, type);
      const a = await claimOne(engine.store, type, { worker_id: 'worker-A', lease_seconds: SHORT_LEASE });
      const b = await claimWhenDue(engine.store, type, { worker_id: 'worker-B' });
      expect(b).toMatchObject({ id: task.id, status: 'running', attempts: 2, worker_id: 'worker-B' });
      expect(b.lease_id).not.toBe(a.lease_id);
      expect(Date.parse(b.started_at!)).toBeGreaterThanOrEqual(Date.parse(a.lease_expires_at!));

      await expectFencedOff(engine.store, a);
      // A's attempts did not disturb B's lease.
      expect(await engine.store.getTask(task.id)).toEqual(b);
      expect(await engine.store.completeTask(task.id, leaseOf(b), { by: 'B' })).toMatchObject({ status: 'completed', result: { by: 'B' }, attempts: 2 });
    });

    it('gives the same worker a new lease when it claims the task again, and its old lease id is dead', async () => {
      const type = await newType(engine.store);
      const task = await newTask(engine.store, type);
      const first = await claimOne(engine.store, type, { worker_id: 'worker-same', lease_seconds: SHORT_LEASE });
      const second = await claimWhenDue(engine.store, type, { worker_id: 'worker-same' });
      expect(second).toMatchObject({ id: task.id, attempts: 2, worker_id: 'worker-same' });
      expect(second.lease_id).not.toBe(first.lease_id);

      await expectFencedOff(engine.store, first);
      expect((await engine.store.completeTask(task.id, leaseOf(second), null)).status).toBe('completed');
    });

    it('on the last attempt fails the task at the next claim', async () => {
      const type = await newType(engine.store, { max_attempts: 1 });
      await newTask(engine.store, type);
      const claimed = await claimOne(engine.store, type, { lease_seconds: SHORT_LEASE });
      await leaseRunOut(claimed);

      // The next claim finds the lease run out, fails the task, and takes nothing.
      const failed = await vi.waitFor(async () => {
        expect(await claim(engine.store, type, { worker_id: 'next' })).toEqual([]);
        const task = await engine.store.getTask(claimed.id);
        expect(task.status).toBe('failed');
        return task;
      }, WAIT);
      expect(failed).toMatchObject({ status: 'failed', attempts: 1, completed_at: expect.stringMatching(ISO_UTC), lease_expires_at: null });
      expect(failed.error_message).toMatch(/Lease expired/);
      await expectFencedOff(engine.store, claimed);
    });
  });

  describe('sweepExpiredLeases', () => {
    it('puts an expired task with attempts left back to pending and fails an exhausted one, and counts them', async () => {
      const store = await engine.fresh();
      const type = await newType(store, { max_attempts: 3 });
      const withAttempts = await newTask(store, type, { priority: 1 });
      const exhausted = await newTask(store, type, { priority: 2, max_attempts: 1 });
      const held = await newTask(store, type, { priority: 3 });
      const claimed = await claim(store, type, { lease_seconds: SHORT_LEASE, limit: 2 });
      expect(claimed.map((task) => task.id)).toEqual([withAttempts.id, exhausted.id]);
      const holding = await claimOne(store, type);
      await leaseRunOut(claimed[1]!);

      let swept = 0;
      await expect.poll(async () => (swept += await store.sweepExpiredLeases()), WAIT).toBe(2);
      const released = await store.getTask(withAttempts.id);
      expect(released).toMatchObject({ status: 'pending', attempts: 1, lease_expires_at: null, error_message: expect.stringMatching(/Lease expired/) });
      const failed = await store.getTask(exhausted.id);
      expect(failed).toMatchObject({ status: 'failed', attempts: 1, completed_at: expect.stringMatching(ISO_UTC), error_message: expect.stringMatching(/Lease expired/) });
      // A lease that holds is left alone.
      expect(holding.id).toBe(held.id);
      expect(await store.getTask(held.id)).toEqual(holding);

      // The old leases are dead; the released task is claimable again, as its second attempt.
      await expectFencedOff(store, claimed[0]!);
      await expectFencedOff(store, claimed[1]!);
      const again = await claim(store, type, { worker_id: 'again', limit: 10 });
      expect(again.map((task) => [task.id, task.attempts])).toEqual([[withAttempts.id, 2]]);
    });

    it('changes nothing, and says so, when no lease has run out', async () => {
      const store = await engine.fresh();
      const type = await newType(store);
      await newTask(store, type);
      const held = await claimOne(store, type);
      expect(await store.sweepExpiredLeases()).toBe(0);
      expect(await store.getTask(held.id)).toEqual(held);
    });
  });

  describe('a cancelled running task', () => {
    it('fences off its worker', async () => {
      const type = await newType(engine.store);
      await newTask(engine.store, type);
      const claimed = await claimOne(engine.store, type);
      expect(await engine.store.cancelTask(claimed.id)).toMatchObject({ status: 'cancelled', lease_expires_at: null });
      await expectFencedOff(engine.store, claimed);
      expect((await engine.store.getTask(claimed.id)).status).toBe('cancelled');
    });
  });
});
