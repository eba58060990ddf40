/**
 * Claim signals: a claim waiting through waitToClaim is answered once, with tasks leased to it
 * (`claimed`) or by being `woken` to claim again, when tasks may have become claimable;
 * onTasksAvailable tells claims not yet waiting; onTaskEvent reports what happened to tasks.
 * Engines differ in how they answer (SQLite hands new tasks over in the create's own
 * transaction; another engine may wake the claim instead): each case accepts either.
 */
import { describe, expect, it, vi } from 'vitest';
import type { TaskEvent, TaskStore } from '../store.js';
import type { Task } from '../types.js';
import { forEachEngine } from './engines.js';
import {
  claim,
  claimOne,
  claimRequest,
  idsOf,
  leaseOf,
  leaseRunOut,
  newTask,
  newTasks,
  newType,
  SHORT_LEASE,
  WAIT,
  waitingClaim,
} from './fixtures.js';

forEachEngine((engine) => {
  describe('waitToClaim', () => {
    it('answers a waiting claim after a create of its type, with the task leased to it or by waking it to claim it', async () => {
      const type = await newType(engine.store);
      const waiting = waitingClaim(engine.store, claimRequest(type, { worker_id: 'waiter', lease_seconds: 30 }));
      const task = await newTask(engine.store, type, { parameters: { to: 'a@example.com' } });
      const tasks = await waiting.tasks();
      waiting.stop();

      expect(idsOf(tasks)).toEqual([task.id]);
      expect(tasks[0]).toMatchObject({ status: 'running', worker_id: 'waiter', attempts: 1 });
      expect(await engine.store.getTask(task.id)).toEqual(tasks[0]);
    });

    it('gives a waiting claim only tasks of the types it asked for', async () => {
      const [mine, other] = [await newType(engine.store), await newType(engine.store)];
      const waiting = waitingClaim(engine.store, claimRequest(mine, { limit: 10 }));
      const theirs = await newTask(engine.store, other);
      const ours = await newTask(engine.store, mine);
      const tasks = await waiting.tasks();
      waiting.stop();

      expect(tasks.every((task) => task.task_type_id === mine.id)).toBe(true);
      expect(idsOf(tasks)).toEqual([ours.id]);
      expect((await engine.store.getTask(theirs.id)).status).toBe('pending');
    });

    it('answers each waiting claim once, the oldest first when it hands tasks over', async () => {
      const type = await newType(engine.store);
      const older = waitingClaim(engine.store, claimRequest(type, { worker_id: 'older' }));
      const younger = waitingClaim(engine.store, claimRequest(type, { worker_id: 'younger' }));
      const first = await newTask(engine.store, type);
      const answer = await older.answer();
      if (answer !== 'woken') expect(idsOf(answer)).toEqual([first.id]);
      const second = await newTask(engine.store, type);
      const handed = [...(await older.tasks()), ...(await younger.tasks())];
      expect(idsOf(handed).sort((a, b) => a - b)).toEqual([first.id, second.id]);

      // Answered once: a later task goes to a claim that waits now, not to them.
      const later = waitingClaim(engine.store, claimRequest(type, { worker_id: 'later' }));
      const third = await newTask(engine.store, type);
      expect(idsOf(await later.tasks())).toEqual([third.id]);
      expect([older.answers.length, younger.answers.length]).toEqual([1, 1]);
      for (const waiting of [older, younger, later]) waiting.stop();
    });

    it('stops waiting when told to', async () => {
      const type = await newType(engine.store);
      const stopped = waitingClaim(engine.store, claimRequest(type, { worker_id: 'stopped' }));
      const present = waitingClaim(engine.store, claimRequest(type, { worker_id: 'present' }));
      stopped.stop();
      const task = await newTask(engine.store, type);
      expect(idsOf(await present.tasks())).toEqual([task.id]);
      expect(stopped.answers).toEqual([]);
      expect(await engine.store.getTask(task.id)).toMatchObject({ worker_id: 'present' });
      present.stop();
    });

    it.each([
      ['a cancelled task is retried', (store: TaskStore, task: Task) => store.cancelTask(task.id), (store: TaskStore, task: Task) => store.retryTask(task.id)],
      [
        'its type is switched back on',
        (store: TaskStore, task: Task) => store.deactivateTaskType(task.task_type_id),
        (store: TaskStore, task: Task) => store.updateTaskType(task.task_type_id, { is_active: true }),
      ],
    ])('answers a waiting claim when %s', async (_what, before, write) => {
      const type = await newType(engine.store);
      const task = await newTask(engine.store, type);
      await before(engine.store, task);
      const waiting = waitingClaim(engine.store, claimRequest(type));
      await write(engine.store, task);
      expect(idsOf(await waiting.tasks())).toEqual([task.id]);
      waiting.stop();
    });

    it('wakes waiting claims when a failed attempt is to be retried after its backoff', async () => {
      const type = await newType(engine.store, { retry_base_seconds: 600 });
      await newTask(engine.store, type);
      const claimed = await claimOne(engine.store, type);
      const waiting = waitingClaim(engine.store, claimRequest(type));
      await engine.store.failTask(claimed.id, leaseOf(claimed), 'boom', true);
      // Nothing to hand over before the backoff has passed: the claim looks again, to wait for it.
      expect(await waiting.answer()).toBe('woken');
      waiting.stop();
    });

    it('answers waiting claims when an expired lease is released', async () => {
      const store = await engine.fresh();
      const type = await newType(store);
      const task = await newTask(store, type);
      const claimed = await claimOne(store, type, { lease_seconds: SHORT_LEASE });
      const waiting = waitingClaim(store, claimRequest(type, { worker_id: 'next' }));
      await leaseRunOut(claimed);
      await expect.poll(() => store.sweepExpiredLeases(), WAIT).toBe(1);
      expect(idsOf(await waiting.tasks())).toEqual([task.id]);
      waiting.stop();
    });
  });

  describe('onTasksAvailable', () => {
    it('calls its listeners whenever tasks may have become claimable, until they unsubscribe', async () => {
      const store = await engine.fresh();
      const type = await newType(store, { retry_base_seconds: 0 });
      let calls = 0;
      let stoppedCalls = 0;
      const unsubscribe = store.onTasksAvailable(() => calls++);
      const stopped = store.onTasksAvailable(() => stoppedCalls++);
      stopped();
      const after = async (what: string, write: () => Promise<unknown>) => {
        const before = calls;
        await write();
        await vi.waitFor(() => expect(calls, `a call after ${what}`).toBeGreaterThan(before), WAIT);
      };

      await after('a create', () => newTask(store, type));
      await after('a batch create', () => newTasks(store, type, 2));
      const [first, second] = await claim(store, type, { limit: 2 });
      await after('a failed attempt to retry', () => store.failTask(first!.id, leaseOf(first!), 'again', true));
      await store.cancelTask(second!.id);
      await after('a retry', () => store.retryTask(second!.id));
      await store.deactivateTaskType(type.id);
      await after('a type switched back on', () => store.updateTaskType(type.id, { is_active: true }));
      const leased = await claimOne(store, type, { lease_seconds: SHORT_LEASE });
      await leaseRunOut(leased);
      await after('a released lease', () => expect.poll(() => store.sweepExpiredLeases(), WAIT).toBe(1));

      // Unsubscribed, a listener hears nothing more, while one still subscribed does.
      unsubscribe();
      const before = calls;
      let lastCalls = 0;
      const last = store.onTasksAvailable(() => lastCalls++);
      await newTask(store, type);
      await vi.waitFor(() => expect(lastCalls).toBeGreaterThan(0), WAIT);
      last();
      expect(calls).toBe(before);
      expect(stoppedCalls).toBe(0);
    });
  });

  describe('onTaskEvent', () => {
    it('reports each kind of event, by type, with how many tasks it concerned', async () => {
      const store = await engine.fresh();
      const type = await newType(store, { max_attempts: 2, retry_base_seconds: 0 });
      const other = await newType(store, { max_attempts: 1 });
      const events: TaskEvent[] = [];
      const unsubscribe = store.onTaskEvent((event) => events.push(event));
      /** The total count of each kind of event for a type. */
      const totals = (typeId: number) =>
        events.filter((event) => event.task_type_id === typeId).reduce<Record<string, number>>((sum, { kind, count }) => ({ ...sum, [kind]: (sum[kind] ?? 0) + count }), {});

      await newTasks(store, type, 3);
      await vi.waitFor(() => expect(totals(type.id)).toEqual({ created: 3 }), WAIT);

      const [a, b, c] = await claim(store, type, { limit: 3 });
      await vi.waitFor(() => expect(totals(type.id)).toEqual({ created: 3, claimed: 3 }), WAIT);
      await store.completeTask(a!.id, leaseOf(a!), null);
      await store.failTask(b!.id, leaseOf(b!), 'again', true);
      await store.cancelTask(c!.id);
      await store.retryTask(c!.id);
      await vi.waitFor(() => expect(totals(type.id)).toEqual({ created: 3, claimed: 3, completed: 1, retried: 2, cancelled: 1 }), WAIT);

      const [again] = await claim(store, type);
      await store.failTask(again!.id, leaseOf(again!), 'no more', false);
      await vi.waitFor(() => expect(totals(type.id)).toMatchObject({ claimed: 4, failed: 1 }), WAIT);

      // A lease that runs out on the last attempt: expired, and failed.
      await newTask(store, other);
      const leased = await claimOne(store, other, { lease_seconds: SHORT_LEASE });
      await leaseRunOut(leased);
      await expect.poll(() => store.sweepExpiredLeases(), WAIT).toBe(1);
      await vi.waitFor(() => expect(totals(other.id)).toEqual({ created: 1, claimed: 1, lease_expired: 1, failed: 1 }), WAIT);
      expect(totals(type.id)).toEqual({ created: 3, claimed: 4, completed: 1, retried: 2, cancelled: 1, failed: 1 });

      // Unsubscribed, a listener hears nothing more, while one still subscribed does.
      unsubscribe();
      const later: TaskEvent[] = [];
      const last = store.onTaskEvent((event) => later.push(event));
      await newTask(store, type);
      await vi.waitFor(() => expect(later).toContainEqual({ kind: 'created', task_type_id: type.id, count: 1 }), WAIT);
      last();
      expect(totals(type.id).created).toBe(3);
    });
  });
});
