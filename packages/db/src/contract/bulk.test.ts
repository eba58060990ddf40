/** retryTasks, cancelTasks, deleteTasks: bulk actions by ids or by a filter, bounded, atomic, as the single actions do them. */
import { describe, expect, it } from 'vitest';
import { LeaseLostError } from '../errors.js';
import type { TaskStore } from '../store.js';
import type { Task, TaskType } from '../types.js';
import { forEachEngine } from './engines.js';
import { claimOne, idsOf, leaseOf, newTask, newTasks, newType, problemsOf, rejection, tasksOf } from './fixtures.js';

/** The status of each task of a type, by id. */
async function statuses(store: TaskStore, type: Pick<TaskType, 'id'>): Promise<Record<number, string>> {
  return Object.fromEntries((await tasksOf(store, type)).map((task) => [task.id, task.status]));
}

/** A task of `type` that failed for good after one attempt. */
async function failedTask(store: TaskStore, type: TaskType, worker = 'w'): Promise<Task> {
  await newTask(store, type, { max_attempts: 1 });
  const claimed = await claimOne(store, type, { worker_id: worker });
  return store.failTask(claimed.id, leaseOf(claimed), 'boom', false);
}

forEachEngine((engine) => {
  describe('bulk actions', () => {
    it('retries by ids only the failed and cancelled tasks, with their attempts reset, as retryTask', async () => {
      const type = await newType(engine.store);
      const failed = await failedTask(engine.store, type);
      const cancelled = await engine.store.cancelTask((await newTask(engine.store, type)).id);
      const pending = await newTask(engine.store, type);
      const result = await engine.store.retryTasks({ ids: [failed.id, cancelled.id, pending.id, 987_654], limit: 1000 });
      expect(result).toEqual({ changed: 2, more: false });
      const retried = await engine.store.getTask(failed.id);
      expect(retried).toMatchObject({ status: 'pending', attempts: 0, completed_at: null, lease_expires_at: null });
      expect(await statuses(engine.store, type)).toEqual({ [failed.id]: 'pending', [cancelled.id]: 'pending', [pending.id]: 'pending' });
      // Claimable again.
      expect((await claimOne(engine.store, type, { limit: 1 })).attempts).toBe(1);
    });

    it('cancels by a filter, at most `limit` per call, saying whether more matched; the worker loses its lease', async () => {
      const type = await newType(engine.store);
      await newTask(engine.store, type);
      const running = await claimOne(engine.store, type, { worker_id: 'x' });
      await newTasks(engine.store, type, 4);
      await failedTask(engine.store, type);
      const first = await engine.store.cancelTasks({ filter: { task_type_id: type.id }, limit: 3 });
      expect(first).toEqual({ changed: 3, more: true });
      const second = await engine.store.cancelTasks({ filter: { task_type: type.name }, limit: 3 });
      expect(second).toEqual({ changed: 2, more: false });
      const after = await tasksOf(engine.store, type);
      expect(after.filter((task) => task.status === 'cancelled')).toHaveLength(5);
      expect(after.filter((task) => task.status === 'failed')).toHaveLength(1);
      expect(await rejection(engine.store.heartbeatTask(running.id, leaseOf(running), 60))).toBeInstanceOf(LeaseLostError);
      expect(await engine.store.cancelTasks({ filter: { task_type_id: type.id }, limit: 3 })).toEqual({ changed: 0, more: false });
    });

    it('takes the tasks of ids that match the filter when given both, and narrows statuses to what the action allows', async () => {
      const type = await newType(engine.store);
      const [a, b, c] = await newTasks(engine.store, type, 3);
      await engine.store.updateTask(a!.id, { priority: 1 });
      expect(await engine.store.cancelTasks({ ids: [a!.id, b!.id], filter: { priority_max: 1 }, limit: 10 })).toEqual({ changed: 1, more: false });
      // Asked to cancel cancelled or completed tasks: none are cancellable.
      expect(await engine.store.cancelTasks({ filter: { task_type_id: type.id, status: ['cancelled', 'completed'] }, limit: 10 })).toEqual({ changed: 0, more: false });
      expect(await engine.store.retryTasks({ filter: { task_type_id: type.id, status: ['cancelled', 'pending'] }, limit: 10 })).toEqual({ changed: 1, more: false });
      expect(await statuses(engine.store, type)).toEqual({ [a!.id]: 'pending', [b!.id]: 'pending', [c!.id]: 'pending' });
    });

    it('deletes by ids and by a filter in any status, and the counts follow', async () => {
      const store = await engine.fresh();
      const type = await newType(store);
      const keep = await newType(store);
      const failed = await failedTask(store, type);
      const tasks = await newTasks(store, type, 3, { metadata: { batch: 'b1' } });
      await newTasks(store, keep, 2, { metadata: { batch: 'b1' } });
      expect(await store.deleteTasks({ ids: [failed.id], limit: 1000 })).toEqual({ changed: 1, more: false });
      expect(await store.deleteTasks({ filter: { task_type_id: type.id, metadata_key: 'batch', metadata_value: 'b1' }, limit: 2 })).toEqual({ changed: 2, more: true });
      expect(idsOf(await tasksOf(store, type))).toEqual([tasks[2]!.id]);
      expect(await store.countTasks()).toEqual(
        expect.arrayContaining([
          { task_type: type.name, status: 'pending', count: 1 },
          { task_type: keep.name, status: 'pending', count: 2 },
        ]),
      );
      expect((await store.countTasks()).filter((count) => count.task_type === type.name)).toHaveLength(1);
    });

    it('refuses a call without ids or a condition, and bad ids or filters, changing nothing', async () => {
      const type = await newType(engine.store);
      await newTask(engine.store, type);
      expect((await problemsOf(engine.store.deleteTasks({ limit: 10 }))).map((p) => p.path)).toEqual([['filter']]);
      expect((await problemsOf(engine.store.deleteTasks({ filter: {}, limit: 10 }))).map((p) => p.path)).toEqual([['filter']]);
      expect((await problemsOf(engine.store.cancelTasks({ ids: [], limit: 10 }))).map((p) => p.path)).toEqual([['ids']]);
      expect((await problemsOf(engine.store.retryTasks({ filter: { created_after: 'soon' }, limit: 10 }))).map((p) => p.path)).toEqual([
        ['filter', 'created_after'],
      ]);
      expect(await tasksOf(engine.store, type)).toHaveLength(1);
    });
  });
});
