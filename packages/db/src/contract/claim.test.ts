/**
 * claimTasks and nextClaimableAt: what a claim takes (due, pending tasks of active types it asks
 * for), in which order (priority, then run_at, then id), what a claimed task looks like, and that
 * no task is leased to two claims at once.
 */
import { describe, expect, it } from 'vitest';
import type { Task } from '../types.js';
import { forEachEngine } from './engines.js';
import { claim, claimOne, claimWhenDue, idsOf, ISO_UTC, leaseOf, msBetween, newTask, newTasks, newType, tasksOf } from './fixtures.js';

const inAnHour = () => new Date(Date.now() + 3_600_000).toISOString();

forEachEngine((engine) => {
  describe('claim order', () => {
    it('hands out tasks by priority ascending, then in creation order', async () => {
      const type = await newType(engine.store);
      const created: Task[] = [];
      for (const priority of [5, 1, 5, 3, 1, 1000, 3]) created.push(await newTask(engine.store, type, { priority }));
      const expected = idsOf([...created].sort((a, b) => a.priority - b.priority || a.id - b.id));

      const claimed: number[] = [];
      for (let i = 0; i < created.length; i++) claimed.push((await claimOne(engine.store, type)).id);
      expect(claimed).toEqual(expected);
      expect(await claim(engine.store, type)).toEqual([]);
    });

    it('returns the tasks of one claim in the same order', async () => {
      const type = await newType(engine.store);
      const [a, b, c, d] = await engine.store.createTasks([50, 10, 50, 10].map((priority) => ({ task_type_id: type.id, priority })));
      expect(idsOf(await claim(engine.store, type, { limit: 10 }))).toEqual([b!.id, d!.id, a!.id, c!.id]);
    });

    it('breaks priority ties by run_at before id', async () => {
      const type = await newType(engine.store);
      const now = await newTask(engine.store, type, { priority: 10 });
      const older = await newTask(engine.store, type, { priority: 10, run_at: '2020-01-01T00:00:00.000Z' });
      const oldest = await newTask(engine.store, type, { priority: 10, run_at: '2019-01-01T00:00:00.000Z' });
      const urgent = await newTask(engine.store, type, { priority: 9 });
      expect(idsOf(await claim(engine.store, type, { limit: 10 }))).toEqual([urgent.id, oldest.id, older.id, now.id]);
    });
  });

  describe('a claimed task', () => {
    it('is running, with attempts 1, the worker, a new lease id and an expiry lease_seconds after it started', async () => {
      const type = await newType(engine.store);
      const [first, second] = await newTasks(engine.store, type, 2);
      const claimed = await claimOne(engine.store, type, { worker_id: 'worker-fields', lease_seconds: 30 });
      expect(claimed).toEqual({
        ...first,
        status: 'running',
        attempts: 1,
        worker_id: 'worker-fields',
        lease_id: expect.stringMatching(/.+/),
        lease_expires_at: expect.stringMatching(ISO_UTC),
        started_at: expect.stringMatching(ISO_UTC),
        updated_at: expect.stringMatching(ISO_UTC),
      });
      expect(msBetween(claimed.started_at!, claimed.lease_expires_at!)).toBe(30_000);
      expect(await engine.store.getTask(first!.id)).toEqual(claimed);

      const next = await claimOne(engine.store, type, { worker_id: 'worker-fields' });
      expect(next.id).toBe(second!.id);
      expect(next.lease_id).not.toBe(claimed.lease_id);
    });
  });

  describe('claim filters', () => {
    it('takes only the types named by id or by name, never inactive ones, and at most limit', async () => {
      const [a, b, c] = [await newType(engine.store), await newType(engine.store), await newType(engine.store)];
      const ofA = idsOf(await newTasks(engine.store, a, 5));
      const ofB = idsOf(await newTasks(engine.store, b, 3));
      const ofC = await newTask(engine.store, c);
      await engine.store.deactivateTaskType(c.id);

      expect(idsOf(await claim(engine.store, a, { limit: 2 }))).toEqual(ofA.slice(0, 2));
      const restOfA = await claim(engine.store, a, { limit: 100 });
      expect(idsOf(restOfA)).toEqual(ofA.slice(2));
      expect(idsOf(await engine.store.claimTasks({ worker_id: 'w', task_types: [b.name], limit: 100, lease_seconds: 60 }))).toEqual(ofB);
      // An inactive type: nothing, by id or by name; its task waits.
      expect(await claim(engine.store, c, { limit: 100 })).toEqual([]);
      expect(await engine.store.claimTasks({ worker_id: 'w', task_types: [c.name], limit: 100, lease_seconds: 60 })).toEqual([]);
      expect((await engine.store.getTask(ofC.id)).status).toBe('pending');
      // Unknown names and ids: nothing.
      expect(await engine.store.claimTasks({ worker_id: 'w', task_types: ['no_such_type'], limit: 100, lease_seconds: 60 })).toEqual([]);
      expect(await engine.store.claimTasks({ worker_id: 'w', task_type_ids: [987_654], limit: 100, lease_seconds: 60 })).toEqual([]);

      // Active again, its task is claimable again.
      await engine.store.updateTaskType(c.id, { is_active: true });
      expect(idsOf(await claim(engine.store, c))).toEqual([ofC.id]);
    });

    it('takes from either list when both task_type_ids and task_types are given', async () => {
      const [a, b, other] = [await newType(engine.store), await newType(engine.store), await newType(engine.store)];
      const ta = await newTask(engine.store, a, { priority: 2 });
      const tb = await newTask(engine.store, b, { priority: 1 });
      await newTask(engine.store, other, { priority: 1 });
      const tasks = await engine.store.claimTasks({ worker_id: 'w', task_type_ids: [a.id], task_types: [b.name], limit: 10, lease_seconds: 60 });
      expect(idsOf(tasks)).toEqual([tb.id, ta.id]);
    });

    it('takes nothing when a list is given but empty, and from every active type when neither is', async () => {
      const store = await engine.fresh();
      const [a, b, off] = [await newType(store), await newType(store), await newType(store)];
      const ta = await newTask(store, a, { priority: 1 });
      const tb = await newTask(store, b, { priority: 2 });
      await newTask(store, off);
      await store.deactivateTaskType(off.id);
      expect(await store.claimTasks({ worker_id: 'w', task_type_ids: [], limit: 10, lease_seconds: 60 })).toEqual([]);
      expect(await store.claimTasks({ worker_id: 'w', task_types: [], limit: 10, lease_seconds: 60 })).toEqual([]);
      expect(await store.getTask(ta.id)).toMatchObject({ status: 'pending', attempts: 0 });
      expect(idsOf(await store.claimTasks({ worker_id: 'w', limit: 10, lease_seconds: 60 }))).toEqual([ta.id, tb.id]);
    });
  });

  describe('scheduled tasks', () => {
    it('does not claim a task before its run_at or its delay_seconds have come', async () => {
      const type = await newType(engine.store);
      const runAt = inAnHour();
      await newTask(engine.store, type, { run_at: runAt });
      await newTask(engine.store, type, { delay_seconds: 3600 });
      expect(await claim(engine.store, type, { limit: 10 })).toEqual([]);
      expect(await engine.store.nextClaimableAt({ task_type_ids: [type.id] })).toBe(runAt);
    });

    it('claims a task once its run_at, or its delay_seconds, have come', async () => {
      const type = await newType(engine.store);
      const at = await newTask(engine.store, type, { run_at: new Date(Date.now() + 200).toISOString(), priority: 1 });
      const delayed = await newTask(engine.store, type, { delay_seconds: 0.2, priority: 2 });

      const first = await claimWhenDue(engine.store, type);
      expect(first.id).toBe(at.id);
      expect(first.started_at! >= at.run_at).toBe(true);
      const second = await claimWhenDue(engine.store, type);
      expect(second.id).toBe(delayed.id);
      expect(second.started_at! >= delayed.run_at).toBe(true);
    });
  });

  describe('nextClaimableAt', () => {
    it('is null when nothing of the filter is pending or leased', async () => {
      const type = await newType(engine.store);
      expect(await engine.store.nextClaimableAt({ task_type_ids: [type.id] })).toBeNull();
      await newTask(engine.store, type);
      const claimed = await claimOne(engine.store, type);
      await engine.store.completeTask(claimed.id, leaseOf(claimed), null);
      expect(await engine.store.nextClaimableAt({ task_type_ids: [type.id] })).toBeNull();
    });

    it('is the earliest run_at of a pending task or lease expiry of a task with attempts left, of the active types asked for', async () => {
      const [type, other] = [await newType(engine.store), await newType(engine.store)];
      const later = inAnHour();
      const sooner = new Date(Date.parse(later) - 60_000).toISOString();
      await newTask(engine.store, type, { run_at: later });
      await newTask(engine.store, other, { run_at: sooner });
      expect(await engine.store.nextClaimableAt({ task_type_ids: [type.id] })).toBe(later);
      expect(await engine.store.nextClaimableAt({ task_types: [type.name, other.name] })).toBe(sooner);

      // A lease that runs out before the run_at: the task comes back then.
      await newTask(engine.store, type);
      const leased = await claimOne(engine.store, type, { lease_seconds: 60 });
      expect(await engine.store.nextClaimableAt({ task_type_ids: [type.id] })).toBe(leased.lease_expires_at);
      // …but not on its last attempt: then it fails instead.
      const once = await newType(engine.store, { max_attempts: 1 });
      await newTask(engine.store, once);
      await claimOne(engine.store, once);
      expect(await engine.store.nextClaimableAt({ task_type_ids: [once.id] })).toBeNull();

      await engine.store.deactivateTaskType(other.id);
      expect(await engine.store.nextClaimableAt({ task_types: [type.name, other.name] })).toBe(leased.lease_expires_at);
    });
  });

  describe('concurrent claims', () => {
    it('hand every task out exactly once to 30 claimers at a time', async () => {
      const type = await newType(engine.store);
      const created = await engine.store.createTasks(Array.from({ length: 300 }, (_, i) => ({ task_type_id: type.id, priority: 1 + (i % 7) })));
      const handedOut: Task[] = [];
      for (let round = 0; round < 50; round++) {
        const claims = await Promise.all(
          Array.from({ length: 30 }, (_, i) => claim(engine.store, type, { worker_id: `w-${i}`, limit: 5 + (i % 6) })),
        );
        claims.forEach((tasks, i) => {
          for (const task of tasks) expect(task.worker_id).toBe(`w-${i}`);
        });
        const got = claims.flat();
        if (got.length === 0) break;
        handedOut.push(...got);
      }

      expect(idsOf(handedOut).sort((a, b) => a - b)).toEqual(idsOf(created));
      expect(new Set(handedOut.map((task) => task.lease_id)).size).toBe(300);
      // Each is running under the lease of the worker it was handed to.
      const stored = new Map((await tasksOf(engine.store, type)).map((task) => [task.id, task]));
      for (const task of handedOut) {
        expect(stored.get(task.id)).toMatchObject({ status: 'running', attempts: 1, worker_id: task.worker_id, lease_id: task.lease_id });
      }
    });
  });
});
