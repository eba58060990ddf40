import postgres from 'postgres';
import { describe, expect, it, vi } from 'vitest';
import type { ClaimRequest, TaskStore } from '../store.js';
import type { Task } from '../types.js';
import { postgresTestUrl, usePostgresStores } from '../testing/postgres.js';

/** A claim waiting on `store`, recording how it was answered. */
function waiter(store: TaskStore, request: Partial<ClaimRequest> & { worker_id: string }) {
  const answers: (Task[] | 'woken')[] = [];
  const stop = store.waitToClaim({ limit: 1, lease_seconds: 60, ...request }, { claimed: (tasks) => answers.push(tasks), woken: () => answers.push('woken') });
  return { answers, stop };
}

describe.skipIf(!postgresTestUrl())('waiting claims on PostgreSQL', () => {
  const stores = usePostgresStores();

  /** The stores listed in claim_listeners (with claims waiting: writes notify them). */
  async function listed(): Promise<number> {
    const sql = postgres(stores.url(), { max: 1, onnotice: () => {} });
    try {
      const [row] = await sql<{ n: number }[]>`SELECT count(*)::int AS n FROM claim_listeners`;
      return row!.n;
    } finally {
      await sql.end();
    }
  }

  it('are woken by a create in another store on the same database (LISTEN/NOTIFY), as many as there are new tasks', async () => {
    // No fallback within the test: only the notification can wake them.
    const here = await stores.open({ wakeCheckMs: 60_000 });
    const there = await stores.open({ wakeCheckMs: 60_000 });
    const type = await there.createTaskType({ name: 'shared' });
    const other = await there.createTaskType({ name: 'other' });
    const [first, second, byName, onOther] = [
      waiter(here, { worker_id: 'first', task_type_ids: [type.id] }),
      waiter(here, { worker_id: 'second', task_type_ids: [type.id] }),
      waiter(here, { worker_id: 'by-name', task_types: ['shared'] }),
      waiter(here, { worker_id: 'on-other', task_type_ids: [other.id] }),
    ];
    const available = vi.fn();
    here.onTasksAvailable(available);
    await expect.poll(listed).toBe(1);

    await there.createTask({ task_type_id: type.id });
    await vi.waitFor(() => expect(first.answers).toEqual(['woken']));
    expect(available).toHaveBeenCalled();
    // One new task: one claim woken for it, the oldest; the others go on waiting.
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect([second.answers, byName.answers, onOther.answers]).toEqual([[], [], []]);

    // Two more: the next two that want the type, by id or by name.
    await there.createTasks([{ task_type_id: type.id }, { task_type_id: type.id }]);
    await vi.waitFor(() => expect([second.answers, byName.answers]).toEqual([['woken'], ['woken']]));
    expect(onOther.answers).toEqual([]);
    for (const w of [first, second, byName, onOther]) w.stop();
  });

  it('are woken within the fallback check when a task becomes claimable without a notification', async () => {
    const store = await stores.open({ wakeCheckMs: 500 });
    const type = await store.createTaskType({ name: 'silent' });
    const waiting = waiter(store, { worker_id: 'w', task_type_ids: [type.id] });
    await expect.poll(listed).toBeGreaterThan(0);
    await new Promise((resolve) => setTimeout(resolve, 100)); // past the check that follows the listing
    // Written behind the store's back: no NOTIFY, as if the notification were lost.
    const sql = postgres(stores.url(), { max: 1, onnotice: () => {} });
    try {
      const now = new Date().toISOString();
      await sql`INSERT INTO task_list (task_type_id, created_at, run_at) VALUES (${type.id}, ${now}, ${now})`;
    } finally {
      await sql.end();
    }
    expect(waiting.answers).toEqual([]);
    await vi.waitFor(() => expect(waiting.answers).toEqual(['woken']), { timeout: 3000, interval: 20 });
    expect(await store.claimTasks({ worker_id: 'w', task_type_ids: [type.id], limit: 1, lease_seconds: 60 })).toHaveLength(1);
  });

  it('make writes notify only while some store has claims waiting', async () => {
    const store = await stores.open({ wakeCheckMs: 60_000 });
    const type = await store.createTaskType({ name: 'quiet' });
    const heard: string[] = [];
    const sql = postgres(stores.url(), { max: 1, onnotice: () => {} });
    try {
      await sql.listen('prismq_tasks', (payload) => heard.push(payload));
      await expect.poll(listed).toBe(0);
      await store.createTask({ task_type_id: type.id });
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(heard).toEqual([]); // nobody waits: no NOTIFY, and creates commit side by side

      const waiting = waiter(store, { worker_id: 'w', task_types: ['nothing'] });
      await expect.poll(listed).toBe(1);
      await store.createTask({ task_type_id: type.id });
      await vi.waitFor(() => expect(heard).toEqual([expect.stringMatching(new RegExp(` ${type.id}:1$`))]));
      waiting.stop();
    } finally {
      await sql.end();
    }
    // Taken off the list when it closes.
    await store.close();
    expect(await listed()).toBe(0);
  });

  it('are all woken when the listening connection comes back, since notifications may have been missed', async () => {
    const store = await stores.open({ wakeCheckMs: 60_000 });
    const waiting = waiter(store, { worker_id: 'w' });
    const sql = postgres(stores.url(), { max: 1, onnotice: () => {} });
    try {
      // Drops the store's listening connection (and any other of its own): the driver connects again.
      await sql`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND query ILIKE 'listen%'`;
    } finally {
      await sql.end();
    }
    await vi.waitFor(() => expect(waiting.answers).toEqual(['woken']), { timeout: 10_000, interval: 50 });
  });
});
