import postgres from 'postgres';
import { describe, expect, it } from 'vitest';
import { postgresTestUrl, usePostgresStores } from '../testing/postgres.js';
import { LOCKS } from './database.js';

describe.skipIf(!postgresTestUrl())('claims on PostgreSQL', () => {
  const stores = usePostgresStores();

  it('never lease a task twice when two stores on one database claim at once', async () => {
    const [a, b] = [await stores.open({ poolSize: 8 }), await stores.open({ poolSize: 8 })];
    const type = await a.createTaskType({ name: 'contended' });
    const created = await a.createTasks(Array.from({ length: 600 }, (_, i) => ({ task_type_id: type.id, priority: 1 + (i % 7) })));
    const claimed: number[] = [];
    // Sixteen workers, eight on each store, claim in small batches until nothing is left.
    await Promise.all(
      Array.from({ length: 16 }, async (_, worker) => {
        const store = worker % 2 ? a : b;
        for (;;) {
          const tasks = await store.claimTasks({ worker_id: `w${worker}`, task_type_ids: [type.id], limit: 3, lease_seconds: 60 });
          if (tasks.length === 0) return;
          claimed.push(...tasks.map((task) => task.id));
        }
      }),
    );
    expect(claimed).toHaveLength(created.length);
    expect(new Set(claimed).size).toBe(created.length);
    expect((await a.countTasks()).find((row) => row.task_type === 'contended')).toEqual({ task_type: 'contended', status: 'running', count: 600 });
  });

  it('skip a task another transaction holds, rather than wait for it', async () => {
    const store = await stores.open();
    const type = await store.createTaskType({ name: 'locked' });
    const [held, free] = await store.createTasks([{ task_type_id: type.id, priority: 1 }, { task_type_id: type.id, priority: 2 }]);
    const other = postgres(stores.url(), { max: 1, onnotice: () => {} });
    try {
      await other.begin(async (tx) => {
        await tx`SELECT id FROM task_list WHERE id = ${held!.id} FOR UPDATE`;
        // The best task is locked elsewhere: the claim takes the next one at once.
        const tasks = await store.claimTasks({ worker_id: 'w', task_type_ids: [type.id], limit: 2, lease_seconds: 60 });
        expect(tasks.map((task) => task.id)).toEqual([free!.id]);
      });
    } finally {
      await other.end();
    }
    expect((await store.claimTasks({ worker_id: 'w', task_type_ids: [type.id], limit: 2, lease_seconds: 60 })).map((task) => task.id)).toEqual([held!.id]);
  });

  it('run the lease sweep and retention in one replica at a time: 0 at once while another holds the lock', async () => {
    const store = await stores.open();
    const type = await store.createTaskType({ name: 'tidy', max_attempts: 1 });
    const { task } = await store.createTask({ task_type_id: type.id });
    await store.claimTasks({ worker_id: 'w', task_type_ids: [type.id], limit: 1, lease_seconds: 0.05 });
    await new Promise((resolve) => setTimeout(resolve, 100));
    const done = (await store.createTask({ task_type_id: type.id })).task;
    await store.updateTask(done.id, { status: 'completed' });
    const later = new Date(Date.now() + 60_000).toISOString();

    const other = postgres(stores.url(), { max: 1, onnotice: () => {} });
    try {
      await other.begin(async (tx) => {
        await tx`SELECT pg_advisory_xact_lock(${LOCKS.sweep}), pg_advisory_xact_lock(${LOCKS.retention})`;
        const started = Date.now();
        expect(await store.sweepExpiredLeases()).toBe(0);
        expect(await store.deleteFinishedTasks(later, 100)).toBe(0);
        expect(Date.now() - started).toBeLessThan(1000);
      });
    } finally {
      await other.end();
    }
    expect(await store.sweepExpiredLeases()).toBe(1);
    expect((await store.getTask(task.id)).status).toBe('failed');
    expect(await store.deleteFinishedTasks(later, 100)).toBe(2);
  });

  it('keep the task counts without a row that every create of a type waits on', async () => {
    const store = await stores.open({ poolSize: 8 });
    const type = await store.createTaskType({ name: 'counted' });
    const other = postgres(stores.url(), { max: 1, onnotice: () => {} });
    try {
      await other.begin(async (tx) => {
        // A create not yet committed elsewhere: creates here do not wait for it.
        await tx`INSERT INTO task_list (task_type_id, created_at, run_at) VALUES (${type.id}, '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z')`;
        const started = Date.now();
        await Promise.all(Array.from({ length: 8 }, () => store.createTask({ task_type_id: type.id })));
        expect(Date.now() - started).toBeLessThan(2000);
        expect(await store.countTasks()).toContainEqual({ task_type: 'counted', status: 'pending', count: 8 });
      });
    } finally {
      await other.end();
    }
    expect(await store.countTasks()).toContainEqual({ task_type: 'counted', status: 'pending', count: 9 });
  });
});
