/**
 * The log of changes (ChangeLog): every write to a task appends what happened to it, readers
 * read it in commit order and resume after the last change they read without missing or
 * repeating one, even while many writers commit at once, and retention deletes old changes.
 */
import { describe, expect, it } from 'vitest';
import { ChangesExpiredError, ValidationError } from '../errors.js';
import type { TaskStore } from '../store.js';
import type { TaskChange } from '../types.js';
import { forEachEngine } from './engines.js';
import { claimOne, leaseOf, newTask, newType, rejection } from './fixtures.js';

/** Every change after `after`, read in pages of `page`. */
async function readAll(store: TaskStore, after: string, page = 1000): Promise<TaskChange[]> {
  const all: TaskChange[] = [];
  for (;;) {
    const changes = await store.readChanges(after, page);
    all.push(...changes);
    if (changes.length < page) return all;
    after = changes.at(-1)!.id;
  }
}

const ofType = (changes: TaskChange[], typeId: number) => changes.filter((change) => change.task_type_id === typeId);

forEachEngine((engine) => {
  describe('the log of changes', () => {
    it('holds a task’s whole life in commit order, with the kind, status and attempt of each change', async () => {
      const store = engine.store;
      const type = await newType(store, { max_attempts: 3, retry_base_seconds: 0, retry_max_seconds: 0 });
      const head = await store.changesHead();
      const task = await newTask(store, type);
      const first = await claimOne(store, type, { worker_id: 'w1' });
      await store.failTask(task.id, leaseOf(first), 'boom', true);
      const second = await claimOne(store, type, { worker_id: 'w2' });
      await store.completeTask(task.id, leaseOf(second), { ok: true });
      const other = await newTask(store, type);
      await store.cancelTask(other.id);
      await store.retryTask(other.id);
      await store.deleteTask(other.id);

      const changes = ofType(await readAll(store, head), type.id);
      expect(changes.map(({ task_id, kind, status, attempt, worker_id, message }) => ({ task_id, kind, status, attempt, worker_id, message }))).toEqual([
        { task_id: task.id, kind: 'created', status: 'pending', attempt: 0, worker_id: null, message: null },
        { task_id: task.id, kind: 'claimed', status: 'running', attempt: 1, worker_id: 'w1', message: null },
        { task_id: task.id, kind: 'failed', status: 'pending', attempt: 1, worker_id: 'w1', message: 'boom' },
        { task_id: task.id, kind: 'claimed', status: 'running', attempt: 2, worker_id: 'w2', message: null },
        { task_id: task.id, kind: 'completed', status: 'completed', attempt: 2, worker_id: 'w2', message: null },
        { task_id: other.id, kind: 'created', status: 'pending', attempt: 0, worker_id: null, message: null },
        { task_id: other.id, kind: 'cancelled', status: 'cancelled', attempt: 0, worker_id: null, message: null },
        { task_id: other.id, kind: 'retried', status: 'pending', attempt: 0, worker_id: null, message: null },
        { task_id: other.id, kind: 'deleted', status: 'pending', attempt: 0, worker_id: null, message: null },
      ]);
      // Ids are distinct and ordered as the log is.
      const ids = changes.map((change) => change.id);
      expect([...ids].sort((a, b) => store.compareChangeIds(a, b))).toEqual(ids);
      expect(new Set(ids).size).toBe(ids.length);
      for (const change of changes) expect(Date.parse(change.at)).not.toBeNaN();
    });

    it('from a change on, gives exactly the changes after it', async () => {
      const store = engine.store;
      const type = await newType(store);
      const head = await store.changesHead();
      for (let i = 0; i < 5; i++) await newTask(store, type);
      const all = await readAll(store, head);
      expect(ofType(all, type.id)).toHaveLength(5);
      expect(await readAll(store, all[1]!.id)).toEqual(all.slice(2));
      // In pages of 2, the same.
      expect(await readAll(store, all[1]!.id, 2)).toEqual(all.slice(2));
      expect(await store.readChanges(all.at(-1)!.id, 10)).toEqual([]);
      // The head is now the newest change.
      expect(await store.changesHead()).toBe(all.at(-1)!.id);
    });

    it('never lets a reader miss or repeat a change while many writers commit at once', async () => {
      const store = engine.store;
      const type = await newType(store);
      let position = await store.changesHead();
      const seen: TaskChange[] = [];
      let writing = true;
      const reader = (async () => {
        // Reads in small pages while the writers run, then once more after they are done.
        for (let last = false; ; ) {
          const changes = await store.readChanges(position, 7);
          seen.push(...changes);
          if (changes.length > 0) position = changes.at(-1)!.id;
          else if (last) return;
          else if (!writing) last = true;
          await new Promise((resolve) => setImmediate(resolve));
        }
      })();
      const created = (
        await Promise.all(
          Array.from({ length: 8 }, async () => {
            const tasks = [];
            for (let i = 0; i < 15; i++) tasks.push(await newTask(store, type));
            return tasks;
          }),
        )
      ).flat();
      writing = false;
      await reader;
      const mine = ofType(seen, type.id);
      expect(mine.map((change) => change.task_id).sort((a, b) => a - b)).toEqual(created.map((task) => task.id).sort((a, b) => a - b));
      expect(new Set(seen.map((change) => change.id)).size).toBe(seen.length);
    });

    it('refuses a position of another format, and one whose change is not in the log', async () => {
      const store = engine.store;
      for (const garbage of ['', 'abc', '-1', '1.5', '01', '1:2:3', 'x:1']) {
        const error = await rejection(store.readChanges(garbage, 10));
        expect(error, garbage).toBeInstanceOf(ValidationError);
      }
      const unknown = engine.name === 'sqlite' ? '999999999' : '999999999:999999999';
      expect(await rejection(store.readChanges(unknown, 10))).toBeInstanceOf(ChangesExpiredError);
    });
  });

  describe('retention of the log of changes', () => {
    it('deletes the oldest changes before the cut-off, in batches, keeping the newest; a reader after a deleted one is told', async () => {
      const store = await engine.fresh();
      const type = await newType(store);
      // An empty log's head is its start: reading after it reads every change.
      const start = await store.changesHead();
      for (let i = 0; i < 5; i++) await newTask(store, type);
      const all = await readAll(store, start);
      expect(all).toHaveLength(5);
      // Nothing is older than a cut-off in the past.
      expect(await store.deleteChangesBefore(new Date(Date.now() - 3_600_000).toISOString(), 100)).toBe(0);
      const future = new Date(Date.now() + 3_600_000).toISOString();
      expect(await store.deleteChangesBefore(future, 2)).toBe(2);
      expect(await store.deleteChangesBefore(future, 100)).toBe(2);
      expect(await store.deleteChangesBefore(future, 100)).toBe(0);
      // The newest is kept: a reader that read it resumes after it.
      expect(await readAll(store, all[4]!.id)).toEqual([]);
      const error = await rejection(store.readChanges(all[1]!.id, 10));
      expect(error).toBeInstanceOf(ChangesExpiredError);
      expect(error.message).toContain(all[1]!.id);
      const later = await newTask(store, type);
      expect((await readAll(store, all[4]!.id)).map((change) => change.task_id)).toEqual([later.id]);
    });
  });
});
