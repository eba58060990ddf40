/** cancelTask and retryTask: a producer stops a pending or running task, and puts a failed or cancelled one back. */
import { describe, expect, it } from 'vitest';
import { forEachEngine } from './engines.js';
import { claim, claimOne, ISO_UTC, leaseOf, newTask, newType } from './fixtures.js';

forEachEngine((engine) => {
  describe('cancelTask', () => {
    it('cancels a pending task, which no claim takes then', async () => {
      const type = await newType(engine.store);
      const task = await newTask(engine.store, type);
      const cancelled = await engine.store.cancelTask(task.id);
      expect(cancelled).toMatchObject({ id: task.id, status: 'cancelled', completed_at: expect.stringMatching(ISO_UTC) });
      expect(await engine.store.getTask(task.id)).toEqual(cancelled);
      expect(await claim(engine.store, type)).toEqual([]);
    });

    it('cancels a running task and ends its lease', async () => {
      const type = await newType(engine.store);
      await newTask(engine.store, type);
      const claimed = await claimOne(engine.store, type);
      expect(await engine.store.cancelTask(claimed.id)).toMatchObject({ status: 'cancelled', lease_expires_at: null, completed_at: expect.stringMatching(ISO_UTC) });
      // Its worker is fenced off: see leases.test.ts.
    });
  });

  describe('retryTask', () => {
    it('puts a cancelled task back to pending with attempts 0, claimable again under a new lease', async () => {
      const type = await newType(engine.store);
      const task = await newTask(engine.store, type);
      const claimed = await claimOne(engine.store, type, { worker_id: 'first' });
      expect(claimed.attempts).toBe(1);
      await engine.store.cancelTask(task.id);

      const retried = await engine.store.retryTask(task.id);
      expect(retried).toMatchObject({ status: 'pending', attempts: 0, completed_at: null, lease_expires_at: null });
      const again = await claimOne(engine.store, type, { worker_id: 'second' });
      expect(again).toMatchObject({ id: task.id, attempts: 1, worker_id: 'second' });
      expect(again.lease_id).not.toBe(claimed.lease_id);
      // The first worker's lease stays dead.
      await expect(engine.store.completeTask(task.id, leaseOf(claimed), null)).rejects.toMatchObject({ kind: 'conflict' });
    });

    it('puts a failed task back to pending with its attempts reset', async () => {
      const type = await newType(engine.store, { max_attempts: 1 });
      const task = await newTask(engine.store, type);
      const claimed = await claimOne(engine.store, type);
      expect((await engine.store.failTask(task.id, leaseOf(claimed), 'no', true)).status).toBe('failed');

      expect(await engine.store.retryTask(task.id)).toMatchObject({ status: 'pending', attempts: 0, completed_at: null });
      expect(await claimOne(engine.store, type)).toMatchObject({ id: task.id, attempts: 1 });
    });

    it('makes a task that was scheduled for later claimable now', async () => {
      const type = await newType(engine.store);
      const task = await newTask(engine.store, type, { run_at: '2099-01-01T00:00:00.000Z' });
      await engine.store.cancelTask(task.id);
      const retried = await engine.store.retryTask(task.id);
      expect(retried.run_at < '2099-01-01T00:00:00.000Z').toBe(true);
      expect(await claimOne(engine.store, type)).toMatchObject({ id: task.id });
    });
  });
});
