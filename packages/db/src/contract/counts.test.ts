/** countTasks, the queue depth: tasks per type and status, following every way a task is created, moved and deleted. */
import { describe, expect, it } from 'vitest';
import { NotFoundError } from '../errors.js';
import type { TaskStore } from '../store.js';
import { forEachEngine } from './engines.js';
import { claim, claimOne, leaseOf, leaseRunOut, newTask, newTasks, SHORT_LEASE, WAIT } from './fixtures.js';

/** The counts as `type/status: n`, without the zeros an engine may list. */
async function counts(store: TaskStore): Promise<Record<string, number>> {
  const rows = await store.countTasks();
  return Object.fromEntries(rows.filter((row) => row.count > 0).map((row) => [`${row.task_type}/${row.status}`, row.count]));
}

forEachEngine((engine) => {
  describe('countTasks', () => {
    it('is empty for an empty store', async () => {
      expect(await counts(await engine.fresh())).toEqual({});
    });

    it('follows every way a task is created, moved between statuses and deleted', async () => {
      const store = await engine.fresh();
      const a = await store.createTaskType({ name: 'a', max_attempts: 1 });
      const b = await store.createTaskType({ name: 'b', retry_base_seconds: 0 });
      await newTasks(store, a, 6);
      const lone = await newTask(store, b, { idempotency_key: 'lone' });
      // Neither a repeated key nor a batch that fails counts.
      await store.createTask({ task_type_id: b.id, idempotency_key: 'lone' });
      await expect(store.createTasks([{ task_type_id: b.id }, { task_type_id: 987_654 }])).rejects.toBeInstanceOf(NotFoundError);
      expect(await counts(store)).toEqual({ 'a/pending': 6, 'b/pending': 1 });

      const [first, second, third, fourth] = await claim(store, a, { limit: 4 });
      expect(await counts(store)).toEqual({ 'a/pending': 2, 'a/running': 4, 'b/pending': 1 });
      await store.completeTask(first!.id, leaseOf(first!), { ok: true });
      await store.failTask(second!.id, leaseOf(second!), 'no', true); // no attempts left: failed
      await store.cancelTask(third!.id);
      expect(await counts(store)).toEqual({ 'a/pending': 2, 'a/running': 1, 'a/completed': 1, 'a/failed': 1, 'a/cancelled': 1, 'b/pending': 1 });
      await store.retryTask(third!.id);
      await store.deleteTask(fourth!.id);
      expect(await counts(store)).toEqual({ 'a/pending': 3, 'a/completed': 1, 'a/failed': 1, 'b/pending': 1 });

      // A failed attempt with a retry goes back to pending; a status set by hand moves the count too.
      const attempt = await claimOne(store, b);
      expect(await counts(store)).toMatchObject({ 'b/running': 1 });
      await store.failTask(lone.id, leaseOf(attempt), 'again', true);
      expect(await counts(store)).toMatchObject({ 'b/pending': 1 });
      await store.updateTask(lone.id, { status: 'completed' });
      expect(await counts(store)).toEqual({ 'a/pending': 3, 'a/completed': 1, 'a/failed': 1, 'b/completed': 1 });

      // Leases that run out: released while attempts remain, failed on the last one.
      const c = await store.createTaskType({ name: 'c', max_attempts: 2 });
      await newTask(store, c, { priority: 1 });
      await newTask(store, c, { priority: 2, max_attempts: 1 });
      const leased = await claim(store, c, { limit: 2, lease_seconds: SHORT_LEASE });
      expect(await counts(store)).toMatchObject({ 'c/running': 2 });
      await leaseRunOut(leased[1]!);
      const afterSweep = async () => {
        await store.sweepExpiredLeases();
        return counts(store);
      };
      await expect.poll(afterSweep, WAIT).toMatchObject({ 'c/pending': 1, 'c/failed': 1 });
      expect(await counts(store)).not.toHaveProperty('c/running');

      await store.deleteFinishedTasks(new Date(Date.now() + 60_000).toISOString(), 100);
      expect(await counts(store)).toEqual({ 'a/pending': 3, 'c/pending': 1 });
    });
  });
});
