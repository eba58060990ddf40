/**
 * Attempts go with their task: a delete and retention (deleteFinishedTasks) remove the task's rows
 * of task_attempts by the foreign key's ON DELETE CASCADE, on both engines. The contract suite
 * sees only that the task is gone (listAttempts answers NotFoundError); this looks at the table.
 */
import { describe, expect, it } from 'vitest';
import { forEachEngine } from './contract/engines.js';
import { claimOne, leaseOf, newTask, newType, rejection } from './contract/fixtures.js';
import { NotFoundError } from './errors.js';
import { PostgresTaskStore } from './postgres/store.js';
import { SqliteTaskStore } from './sqlite/store.js';
import type { TaskStore } from './store.js';

/** The rows of task_attempts of these tasks, counted in the table itself. */
async function attemptRows(store: TaskStore, taskIds: number[]): Promise<number> {
  const ids = JSON.stringify(taskIds);
  if (store instanceof SqliteTaskStore) {
    return store.db.$client.prepare('SELECT count(*) FROM task_attempts WHERE task_id IN (SELECT value FROM json_each(?))').pluck().get(ids) as number;
  }
  if (store instanceof PostgresTaskStore) {
    const [row] = await store.db.query<{ n: number }>('SELECT count(*)::int AS n FROM task_attempts WHERE task_id IN (SELECT value::bigint FROM json_array_elements_text($1::text::json))', [ids]);
    return row!.n;
  }
  throw new Error('an engine this test does not know');
}

/** A task of `type` (which retries at once) run twice, a failure then a completion: two attempts. */
async function finishedTwice(store: TaskStore, type: { id: number }): Promise<number> {
  const task = await newTask(store, type);
  const first = await claimOne(store, type);
  await store.failTask(first.id, leaseOf(first), 'once', true);
  const second = await claimOne(store, type);
  await store.completeTask(second.id, leaseOf(second), null);
  expect(await store.listAttempts(task.id)).toHaveLength(2);
  return task.id;
}

forEachEngine((engine) => {
  describe('attempts and their task', () => {
    it('are deleted with it by a delete', async () => {
      const type = await newType(engine.store, { retry_base_seconds: 0 });
      const id = await finishedTwice(engine.store, type);
      expect(await attemptRows(engine.store, [id])).toBe(2);
      await engine.store.deleteTask(id);
      expect(await attemptRows(engine.store, [id])).toBe(0);
      expect(await rejection(engine.store.listAttempts(id))).toBeInstanceOf(NotFoundError);
    });

    it('are deleted with it by retention, and kept for the tasks retention keeps', async () => {
      const store = await engine.fresh();
      const type = await newType(store, { retry_base_seconds: 0 });
      const finished = [await finishedTwice(store, type), await finishedTwice(store, type)];
      await newTask(store, type, { priority: 1 });
      const running = await claimOne(store, type);
      expect(await attemptRows(store, [...finished, running.id])).toBe(5);

      expect(await store.deleteFinishedTasks(new Date(Date.now() + 60_000).toISOString(), 100)).toBe(2);
      expect(await attemptRows(store, finished)).toBe(0);
      expect(await store.listAttempts(running.id)).toEqual([expect.objectContaining({ task_id: running.id, outcome: null })]);
    });
  });
});
