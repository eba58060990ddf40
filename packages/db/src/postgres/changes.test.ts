/**
 * The log of changes on PostgreSQL when transactions overlap: ids from the sequence are not in
 * commit order, and a reader must neither miss a change committed late with an older
 * transaction nor read past one still running.
 */
import { describe, expect, it, vi } from 'vitest';
import { postgresTestUrl, usePostgresStores } from '../testing/postgres.js';

describe.skipIf(!postgresTestUrl())('the log of changes on PostgreSQL', () => {
  const stores = usePostgresStores();

  it('holds back changes committed after a transaction still running, and gives them all in transaction order once it ends', async () => {
    const store = await stores.open();
    const type = await store.createTaskType({ name: 'overlap' });
    const { task: early } = await store.createTask({ task_type_id: type.id });
    const head = await store.changesHead();
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let started!: () => void;
    const running = new Promise<void>((resolve) => (started = resolve));
    // A transaction that logs a change (a cancel, by hand) and stays open.
    const held = store.db.transaction(async (tx) => {
      await tx.query("UPDATE task_list SET status = 'cancelled', completed_at = updated_at WHERE id = $1", [early.id]);
      started();
      await released;
    });
    await running;
    // A later transaction logs a change and commits first.
    const { task: late } = await store.createTask({ task_type_id: type.id });
    expect(await store.readChanges(head, 100)).toEqual([]);
    const hinted = vi.fn();
    const stop = store.onChanges(hinted);
    release();
    await held;
    const changes = await store.readChanges(head, 100);
    expect(changes.map(({ task_id, kind }) => ({ task_id, kind }))).toEqual([
      { task_id: early.id, kind: 'cancelled' },
      { task_id: late.id, kind: 'created' },
    ]);
    // Its sequence id is the smaller, and its transaction too: the position orders by the latter.
    expect(store.compareChangeIds(changes[0]!.id, changes[1]!.id)).toBe(-1);
    // The read that found changes held back asked readers to look again.
    await vi.waitFor(() => expect(hinted).toHaveBeenCalled());
    stop();
  });

  it('tells the readers of one store of changes written by another (LISTEN/NOTIFY through event_listeners)', async () => {
    const here = await stores.open();
    const there = await stores.open();
    const type = await there.createTaskType({ name: 'elsewhere' });
    const hinted = vi.fn();
    const stop = here.onChanges(hinted);
    // Listed (then told to read once, for the writes before the listing): writes elsewhere now notify.
    await vi.waitFor(async () => expect((await here.db.query<{ n: number }>('SELECT count(*)::int AS n FROM event_listeners'))[0]!.n).toBe(1));
    await vi.waitFor(() => expect(hinted).toHaveBeenCalled());
    hinted.mockClear();
    await there.createTask({ task_type_id: type.id });
    await vi.waitFor(() => expect(hinted).toHaveBeenCalled());
    stop();
  });
});
