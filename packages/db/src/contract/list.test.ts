/** listTasks: newest first, filtered by type and status, at most `limit` tasks and MAX_LIST_BYTES of them. */
import { describe, expect, it } from 'vitest';
import { MAX_LIST_BYTES } from '../rules/index.js';
import type { Task } from '../types.js';
import { forEachEngine } from './engines.js';
import { idsOf, newTask, newType } from './fixtures.js';

/** The JSON and text a task stores (all ASCII here: a character is a byte). */
const storedBytes = (task: Task): number =>
  JSON.stringify(task.parameters).length +
  JSON.stringify(task.metadata).length +
  (task.result === null ? 0 : JSON.stringify(task.result).length) +
  (task.error_message?.length ?? 0);

/** What an engine may count for a row besides its stored JSON and text. */
const ROW_OVERHEAD_BYTES = 1024;

forEachEngine((engine) => {
  describe('listTasks', () => {
    it('lists newest first and filters by type, status and both, up to limit', async () => {
      const a = await newType(engine.store);
      const b = await newType(engine.store);
      const created: Task[] = [];
      for (let i = 0; i < 5; i++) created.push(await newTask(engine.store, i % 2 ? b : a, { priority: 10 + i }));
      const ids = idsOf(created);
      await engine.store.updateTask(ids[0]!, { status: 'running' });

      expect(idsOf(await engine.store.listTasks({ task_type_id: a.id, limit: 100 }))).toEqual([ids[4], ids[2], ids[0]]);
      expect(idsOf(await engine.store.listTasks({ task_type_id: a.id, status: 'running', limit: 100 }))).toEqual([ids[0]]);
      expect(idsOf(await engine.store.listTasks({ task_type_id: b.id, status: 'pending', limit: 100 }))).toEqual([ids[3], ids[1]]);
      expect(idsOf(await engine.store.listTasks({ task_type_id: a.id, limit: 2 }))).toEqual([ids[4], ids[2]]);
      const running = await engine.store.listTasks({ status: 'running', limit: 1000 });
      expect(running.every((task) => task.status === 'running')).toBe(true);
      expect(idsOf(running)).toContain(ids[0]);
    });

    it('lists the whole store newest first, and tasks created together by id, highest first', async () => {
      const store = await engine.fresh();
      const type = await newType(store);
      const batch = await store.createTasks(Array.from({ length: 4 }, () => ({ task_type_id: type.id })));
      const last = await newTask(store, type);
      expect(idsOf(await store.listTasks({ limit: 100 }))).toEqual([last.id, ...idsOf(batch).reverse()]);
      expect(idsOf(await store.listTasks({ limit: 3 }))).toEqual([last.id, batch[3]!.id, batch[2]!.id]);
    });

    it('lists nothing for a type without tasks or a type that does not exist', async () => {
      const type = await newType(engine.store);
      expect(await engine.store.listTasks({ task_type_id: type.id, limit: 100 })).toEqual([]);
      expect(await engine.store.listTasks({ task_type_id: 987_654, limit: 100 })).toEqual([]);
    });

    it('stops a page before the task that would take it past MAX_LIST_BYTES, and always lists one', async () => {
      const store = await engine.fresh();
      const type = await newType(store);
      const field = (letter: string) => ({ blob: letter.repeat(250 * 1024) });
      // Each task stores about 800 KB: twelve of them pass the bound by far.
      const stored: Task[] = [];
      for (let i = 0; i < 12; i++) {
        const task = await newTask(store, type, { parameters: field('p'), metadata: field('m') });
        stored.unshift(await store.updateTask(task.id, { result: field('r'), error_message: 'e'.repeat(60_000) }));
      }
      const everything = await store.listTasks({ limit: 1000 });
      expect(everything.length).toBeGreaterThan(0);
      expect(everything.length).toBeLessThan(12);
      expect(idsOf(everything)).toEqual(idsOf(stored.slice(0, everything.length)));
      const page = everything.reduce((sum, task) => sum + storedBytes(task), 0);
      expect(page).toBeLessThanOrEqual(MAX_LIST_BYTES);
      // The next task would not have fitted.
      const next = stored[everything.length]!;
      expect(page + storedBytes(next) + (everything.length + 1) * ROW_OVERHEAD_BYTES).toBeGreaterThan(MAX_LIST_BYTES);
      // A filter is bound the same way.
      expect(idsOf(await store.listTasks({ limit: 1000, task_type_id: type.id, status: 'pending' }))).toEqual(idsOf(everything));

      // A task larger than the bound on its own is listed, alone.
      const huge = await newTask(store, type, { parameters: { blob: 'h'.repeat(MAX_LIST_BYTES + 1024) } });
      expect(idsOf(await store.listTasks({ limit: 1000 }))).toEqual([huge.id]);
    });
  });
});
