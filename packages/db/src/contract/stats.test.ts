/** stats and foldStats: counts, the oldest pending task, throughput and percentiles, from rollups of the log of changes. */
import { describe, expect, it, vi } from 'vitest';
import { forEachEngine } from './engines.js';
import { claim, claimOne, leaseOf, newTask, newTasks, WAIT } from './fixtures.js';

forEachEngine((engine) => {
  describe('stats', () => {
    it('is empty but complete for an empty store', async () => {
      const stats = await (await engine.fresh()).stats();
      expect(stats.types).toEqual([]);
      expect(stats.per_minute).toHaveLength(60);
      expect(stats.per_hour).toHaveLength(24);
      expect(stats.per_minute.every((minute) => minute.completed === 0 && minute.failed === 0 && minute.retried === 0)).toBe(true);
      // Oldest first, the current period last.
      expect(Date.parse(stats.per_minute[59]!.at)).toBeLessThanOrEqual(Date.parse(stats.at));
      expect(Date.parse(stats.per_minute[59]!.at)).toBeGreaterThan(Date.parse(stats.at) - 60_000);
      expect(Date.parse(stats.per_hour[23]!.at)).toBeGreaterThan(Date.parse(stats.at) - 3_600_000);
    });

    it('counts attempts that completed, failed and were retried, per type and per minute, with waits and run times', async () => {
      const store = await engine.fresh();
      const mail = await store.createTaskType({ name: 'mail', max_attempts: 2, retry_base_seconds: 0 });
      const idle = await store.createTaskType({ name: 'idle' });
      await newTasks(store, mail, 4);
      const oldest = await newTask(store, idle);
      const [a, b, c] = await claim(store, mail, { limit: 3 });
      await store.completeTask(a!.id, leaseOf(a!), null);
      await store.completeTask(b!.id, leaseOf(b!), null);
      await store.failTask(c!.id, leaseOf(c!), 'bounced', true); // back to pending: retried
      const again = await claimOne(store, mail, { limit: 1 });
      await store.failTask(again.id, leaseOf(again), 'bounced', false); // for good

      // On PostgreSQL a change is folded once every transaction older than it has ended, on any
      // database of the server: another one still running may hold it back for a moment.
      const stats = await vi.waitFor(async () => {
        const read = await store.stats();
        expect(read.types.find((type) => type.task_type === 'mail')?.last_hour).toMatchObject({ completed: 2, failed: 1, retried: 1 });
        return read;
      }, WAIT);
      const byName = Object.fromEntries(stats.types.map((type) => [type.task_type, type]));
      expect(Object.keys(byName).sort()).toEqual(['idle', 'mail']);
      expect(byName.mail!.counts).toEqual({ pending: 1, running: 0, completed: 2, failed: 1, cancelled: 0 });
      expect(byName.mail!.last_hour).toMatchObject({ completed: 2, failed: 1, retried: 1 });
      for (const figure of [byName.mail!.last_hour.wait_ms, byName.mail!.last_hour.run_ms]) {
        expect(figure.p50).toBeGreaterThanOrEqual(0);
        expect(figure.p95).toBeGreaterThanOrEqual(figure.p50!);
        expect(figure.p95).toBeLessThan(60_000);
      }
      expect(byName.idle!.counts.pending).toBe(1);
      expect(byName.idle!.last_hour).toEqual({ completed: 0, failed: 0, retried: 0, wait_ms: { p50: null, p95: null }, run_ms: { p50: null, p95: null } });
      expect(byName.idle!.oldest_pending_age_seconds).toBeGreaterThanOrEqual(0);
      expect(byName.idle!.oldest_pending_age_seconds).toBeLessThanOrEqual((Date.parse(stats.at) - Date.parse(oldest.created_at)) / 1000 + 0.001);
      // Every attempt that ended is in one minute of the hour and one hour of the day.
      const sum = (periods: typeof stats.per_minute) =>
        periods.reduce((total, p) => ({ completed: total.completed + p.completed, failed: total.failed + p.failed, retried: total.retried + p.retried }), {
          completed: 0,
          failed: 0,
          retried: 0,
        });
      expect(sum(stats.per_minute)).toEqual({ completed: 2, failed: 1, retried: 1 });
      expect(sum(stats.per_hour)).toEqual({ completed: 2, failed: 1, retried: 1 });
    });

    it('folds each change once, however often it runs, and goes on from where it stopped', async () => {
      const store = await engine.fresh();
      const type = await store.createTaskType({ name: 'once' });
      await newTasks(store, type, 3);
      for (const task of await claim(store, type, { limit: 2 })) await store.completeTask(task.id, leaseOf(task), null);
      await vi.waitFor(async () => expect((await store.stats()).types[0]!.last_hour.completed).toBe(2), WAIT);
      expect(await store.foldStats()).toBe(0);
      const [last] = await claim(store, type, { limit: 1 });
      await store.completeTask(last!.id, leaseOf(last!), null);
      await Promise.all([store.stats(), store.foldStats(), store.foldStats()]);
      await vi.waitFor(async () => expect((await store.stats()).types[0]!.last_hour.completed).toBe(3), WAIT);
      await store.foldStats();
      expect((await store.stats()).types[0]!.last_hour.completed).toBe(3);
    });
  });
});
