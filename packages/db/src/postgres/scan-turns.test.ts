/**
 * List pages and bulk actions hold at most half the pool's connections at once (scanTurnsOf):
 * however many of them wait, on a slow filter or on locked rows, the queue still finds a connection.
 */
import postgres from 'postgres';
import { describe, expect, it, vi } from 'vitest';
import { postgresTestUrl, usePostgresStores } from '../testing/postgres.js';
import { scanTurnsOf } from './store.js';

describe.skipIf(!postgresTestUrl())('list pages and bulk actions on PostgreSQL', () => {
  const stores = usePostgresStores();

  it('take half the pool at most (at least one connection)', () => {
    expect([1, 2, 3, 4, 10, 11].map(scanTurnsOf)).toEqual([1, 1, 1, 2, 5, 5]);
  });

  it('leave the queue a connection while bulk actions wait on locked rows', { timeout: 30_000 }, async () => {
    const store = await stores.open({ poolSize: 4 });
    const busy = await store.createTaskType({ name: 'locked_by_operator' });
    const queue = await store.createTaskType({ name: 'still_served' });
    await store.createTasks(Array.from({ length: 5 }, () => ({ task_type_id: busy.id })));
    const [waiting] = await store.createTasks([{ task_type_id: queue.id }]);

    // One connection holds the locks, one looks at pg_stat_activity.
    const other = postgres(stores.url(), { max: 2, onnotice: () => {} });
    const waitingOnLocks = async () =>
      Number(
        (await other`SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = 'prismq' AND wait_event_type = 'Lock' AND datname = current_database()`)[0]!.n,
      );
    let release!: () => void;
    const locked = new Promise<void>((resolve) => (release = resolve));
    let held!: Promise<unknown>;
    const holding = new Promise<void>((ready) => {
      held = other.begin(async (tx) => {
        await tx`SELECT id FROM task_list WHERE task_type_id = ${busy.id} FOR UPDATE`;
        ready();
        await locked;
      });
    });
    try {
      await holding;
      // Four bulk cancels of the locked tasks: two wait on the locks, holding a connection each; two wait their turn.
      const bulk = [
        store.cancelTasks({ filter: { task_type_id: busy.id }, limit: 100 }),
        store.cancelTasks({ filter: { task_type_id: busy.id, status: ['pending'] }, limit: 100 }),
        store.cancelTasks({ ids: [waiting!.id - 1], limit: 1 }),
        store.cancelTasks({ filter: { task_type_id: busy.id, priority_max: 1000 }, limit: 100 }),
      ];
  
      await vi.waitFor(async () => expect(await waitingOnLocks()).toBe(2), { timeout: 10_000 });

      // The queue goes on: creates, claims, completions, and reads of single tasks.
      let answered = false;
      const claiming = store.claimTasks({ worker_id: 'w', task_type_ids: [queue.id], limit: 1, lease_seconds: 60 }).finally(() => (answered = true));
      await expect.poll(() => answered, { timeout: 10_000 }).toBe(true);
      const claimed = await claiming;
      expect(claimed.map((task) => task.id)).toEqual([waiting!.id]);
      await store.completeTask(waiting!.id, { worker_id: 'w', lease_id: claimed[0]!.lease_id! }, { ok: true });
      expect((await store.getTask(waiting!.id))?.status).toBe('completed');
      expect(await waitingOnLocks()).toBe(2);

      release();
      await held;
      const done = await Promise.all(bulk);
      // Whichever had the locks first cancelled the tasks, after the locks were released.
      expect(done.map(({ changed }) => changed).reduce((sum, changed) => sum + changed)).toBe(5);
      // Pages wait their turn too, and come once the bulk actions are done.
      expect((await store.listTaskPage({ task_type_id: busy.id, limit: 10 })).items.map((task) => task.status)).toEqual(Array(5).fill('cancelled'));
    } finally {
      release();
      await held.catch(() => {});
      await other.end();
    }
  });
});
