import Database from 'better-sqlite3';
import { describe, expect, it, vi } from 'vitest';
import type { ClaimRequest, TaskEvent } from '../store.js';
import type { Task } from '../types.js';
import { SqliteTaskStore } from './store.js';
import { useTempStores } from './testing.js';

const open = useTempStores();

/** A task as another connection sees it: only what was committed. */
function committedTask(path: string, id: number): { status: string; worker_id: string | null } | undefined {
  const other = new Database(path, { readonly: true });
  try {
    return other.prepare('select status, worker_id from task_list where id = ?').get(id) as { status: string; worker_id: string | null } | undefined;
  } finally {
    other.close();
  }
}

/** Registers a waiting claim and records what it is handed. */
function waiter(store: SqliteTaskStore, request: Partial<ClaimRequest> & { worker_id: string }) {
  const handed: Task[][] = [];
  let woken = 0;
  const stop = store.waitToClaim({ limit: 1, lease_seconds: 60, ...request }, { claimed: (tasks) => handed.push(tasks), woken: () => woken++ });
  return {
    handed,
    stop,
    get woken() {
      return woken;
    },
  };
}

describe('waiting claims', () => {
  it('get a new task leased in the create’s own commit, before the create is acknowledged', async () => {
    const { store, path } = open();
    const type = await store.createTaskType({ name: 'email' });
    const events: TaskEvent[] = [];
    store.onTaskEvent((event) => events.push(event));
    const order: string[] = [];
    const stop = store.waitToClaim(
      { worker_id: 'w1', task_type_ids: [type.id], limit: 5, lease_seconds: 30 },
      {
        claimed: (tasks) => {
          order.push(`handed ${tasks.map((task) => task.id).join(',')}`);
          // Handed over only once it is durable: another connection already sees the lease.
          for (const task of tasks) expect(committedTask(path, task.id)).toEqual({ status: 'running', worker_id: 'w1' });
        },
        woken: () => order.push('woken'),
      },
    );
    const { task } = await store.createTask({ task_type_id: type.id, parameters: { to: 'a@example.com' } });
    order.push('created');
    stop();

    expect(order).toEqual([`handed ${task.id}`, 'created']);
    const leased = await store.getTask(task.id);
    expect(leased).toMatchObject({ status: 'running', worker_id: 'w1', attempts: 1 });
    expect(Date.parse(leased.lease_expires_at!) - Date.parse(leased.started_at!)).toBe(30_000);
    // The create's answer is the task as created; metrics see the claim as for any other.
    expect(task.status).toBe('pending');
    expect(events).toEqual([
      { kind: 'claimed', task_type_id: type.id, count: 1 },
      { kind: 'created', task_type_id: type.id, count: 1 },
    ]);
  });

  it('are served oldest first, only with their own types, each once, and no longer after they stop', async () => {
    const { store } = open();
    const a = await store.createTaskType({ name: 'a' });
    const b = await store.createTaskType({ name: 'b' });
    const first = waiter(store, { worker_id: 'first', task_type_ids: [a.id] });
    const onB = waiter(store, { worker_id: 'on-b', task_types: ['b'] });
    const second = waiter(store, { worker_id: 'second', task_type_ids: [a.id], limit: 5 });
    const stopped = waiter(store, { worker_id: 'stopped' });
    stopped.stop();

    const created = await store.createTasks([
      { task_type_id: a.id, priority: 500 },
      { task_type_id: a.id, priority: 10 },
      { task_type_id: a.id, priority: 500 },
    ]);
    // The first waiter gets the most urgent task; the second, asking for up to 5, the rest.
    expect(first.handed.map((tasks) => tasks.map((task) => task.id))).toEqual([[created[1]!.id]]);
    expect(second.handed.map((tasks) => tasks.map((task) => task.id))).toEqual([[created[0]!.id, created[2]!.id]]);
    expect(onB.handed).toEqual([]);

    const { task: forB } = await store.createTask({ task_type_id: b.id });
    expect(onB.handed.map((tasks) => tasks.map((task) => task.id))).toEqual([[forB.id]]);

    // Everyone who waited has been served once: a new task stays pending for the next claim.
    const { task: left } = await store.createTask({ task_type_id: a.id });
    expect((await store.getTask(left.id)).status).toBe('pending');
    expect([first, second, onB].map((w) => w.handed.length)).toEqual([1, 1, 1]);
    expect(stopped.handed).toEqual([]);
    expect([first, second, onB, stopped].map((w) => w.woken)).toEqual([0, 0, 0, 0]);
  });

  it('are not woken by creates they were offered, but are by a retry’s backoff and a released lease', async () => {
    const { store } = open();
    const a = await store.createTaskType({ name: 'a', retry_base_seconds: 60 });
    const b = await store.createTaskType({ name: 'b' });
    // Something running, to fail and to let expire later.
    await store.createTask({ task_type_id: a.id });
    await store.createTask({ task_type_id: a.id });
    const [toFail, toExpire] = await store.claimTasks({ worker_id: 'busy', task_type_ids: [a.id], limit: 2, lease_seconds: 1 });

    const onA = waiter(store, { worker_id: 'on-a', task_type_ids: [a.id] });
    const alsoOnA = waiter(store, { worker_id: 'also-on-a', task_type_ids: [a.id] });
    const onB = waiter(store, { worker_id: 'on-b', task_type_ids: [b.id] });
    // One new task of a: the first waiter on a gets it; the others were offered it, or had
    // nothing to take, and go on waiting without claiming again.
    await store.createTask({ task_type_id: a.id });
    expect([onA, alsoOnA, onB].map((w) => [w.handed.length, w.woken])).toEqual([
      [1, 0],
      [0, 0],
      [0, 0],
    ]);

    // A failed attempt goes back to pending after its backoff: waiters look again, to wait for it.
    await store.failTask(toFail!.id, { worker_id: 'busy', lease_id: toFail!.lease_id! }, 'boom', true);
    expect([alsoOnA, onB].map((w) => w.woken)).toEqual([1, 1]);

    const again = waiter(store, { worker_id: 'again', task_type_ids: [a.id] });
    await store.db.$client.prepare("update task_list set lease_expires_at = '2000-01-01T00:00:00.000Z' where id = ?").run(toExpire!.id);
    expect(await store.sweepExpiredLeases()).toBe(1);
    expect(again.woken).toBe(1);
  });

  it('leave tasks that are not due yet for later, and get those of a type switched back on', async () => {
    const { store } = open();
    const type = await store.createTaskType({ name: 'later' });
    const { task: due } = await store.createTask({ task_type_id: type.id });
    await store.updateTaskType(type.id, { is_active: false });
    const waiting = waiter(store, { worker_id: 'w' });
    const { task: delayed } = await store.createTaskType({ name: 'other' }).then((other) =>
      store.createTask({ task_type_id: other.id, delay_seconds: 60 }),
    );
    expect(waiting.handed).toEqual([]);
    expect((await store.getTask(delayed.id)).status).toBe('pending');

    await store.updateTaskType(type.id, { is_active: true });
    expect(waiting.handed.map((tasks) => tasks.map((task) => task.id))).toEqual([[due.id]]);
    expect((await store.getTask(delayed.id)).status).toBe('pending');
  });

  it('are woken when another process commits to the database, and by nothing this one does alone', async () => {
    // The store looks for other processes' commits on an interval: it runs when told to here.
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    try {
      const { store, path } = open();
      const type = await store.createTaskType({ name: 'shared' });
      const waiting = waiter(store, { worker_id: 'here', task_type_ids: [type.id] });
      // Work of this process that offers nothing to the waiter does not wake it.
      const other = await store.createTaskType({ name: 'unrelated' });
      await store.createTask({ task_type_id: other.id });
      vi.advanceTimersByTime(1000);
      expect(waiting.woken).toBe(0);

      // A second server on the same file creates a task: the waiter here is woken to claim it.
      const elsewhere = new SqliteTaskStore(path);
      try {
        await elsewhere.createTask({ task_type_id: type.id });
      } finally {
        await elsewhere.close();
      }
      vi.advanceTimersByTime(1000);
      expect(waiting.woken).toBe(1);
      expect(waiting.handed).toEqual([]);
    } finally {
      vi.useRealTimers();
    }
  });

  it('get nothing from a group that cannot commit, and go on waiting', async () => {
    const { store, path } = open({ busyTimeoutMs: 50 });
    const type = await store.createTaskType({ name: 'blocked' });
    const waiting = waiter(store, { worker_id: 'w' });
    const other = new Database(path);
    other.exec('begin exclusive');
    await expect(store.createTask({ task_type_id: type.id })).rejects.toMatchObject({ code: 'SQLITE_BUSY' });
    other.exec('rollback');
    other.close();
    expect(waiting.handed).toEqual([]);

    const { task } = await store.createTask({ task_type_id: type.id });
    expect(waiting.handed.map((tasks) => tasks.map((t) => t.id))).toEqual([[task.id]]);
    expect(committedTask(path, task.id)).toEqual({ status: 'running', worker_id: 'w' });
  });
});
