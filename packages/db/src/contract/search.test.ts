/** Search (`q`): tasks found by the words of their parameters, metadata, result and error message, kept in step with every write. */
import { describe, expect, it } from 'vitest';
import type { TaskFilter, TaskStore } from '../store.js';
import type { Task } from '../types.js';
import { forEachEngine } from './engines.js';
import { claimOne, idsOf, leaseOf, newTask, newType, problemsOf } from './fixtures.js';

async function found(store: TaskStore, filter: Omit<TaskFilter, 'limit'> & { limit?: number }): Promise<number[]> {
  return idsOf((await store.listTaskPage({ limit: 100, ...filter })).items);
}

forEachEngine((engine) => {
  describe('search (q)', () => {
    it('finds a task by a word of its parameters, metadata, result or error message, whole and in any case', async () => {
      const type = await newType(engine.store, { max_attempts: 1 });
      const mail = await newTask(engine.store, type, { parameters: { to: 'Bob@Example.com', subject: 'Quarterly report' }, metadata: { tenant: 'acme' } });
      const other = await newTask(engine.store, type, { parameters: { to: 'alice@example.org' } });
      expect(await found(engine.store, { task_type_id: type.id, q: 'bob' })).toEqual([mail.id]);
      expect(await found(engine.store, { task_type_id: type.id, q: 'QUARTERLY' })).toEqual([mail.id]);
      expect(await found(engine.store, { task_type_id: type.id, q: 'acme' })).toEqual([mail.id]);
      expect(await found(engine.store, { task_type_id: type.id, q: 'example' })).toEqual([other.id, mail.id]);
      // Every word must be there; words are whole.
      expect(await found(engine.store, { task_type_id: type.id, q: 'bob org' })).toEqual([]);
      expect(await found(engine.store, { task_type_id: type.id, q: 'quarter' })).toEqual([]);

      // A result and an error are found once written, in the same transaction as the write.
      const running = await claimOne(engine.store, type);
      await engine.store.completeTask(running.id, leaseOf(running), { archive: 'zip-4471' });
      expect(await found(engine.store, { task_type_id: type.id, q: '4471' })).toEqual([running.id]);
      const failing = await claimOne(engine.store, type);
      await engine.store.failTask(failing.id, leaseOf(failing), 'SMTP timeout talking to relay7', false);
      expect(await found(engine.store, { task_type_id: type.id, q: 'relay7 timeout' })).toEqual([failing.id]);
    });

    it('follows updates and deletes: old words are no longer found, new ones are', async () => {
      const type = await newType(engine.store);
      const task = await newTask(engine.store, type, { parameters: { city: 'Lisbon' } });
      await engine.store.updateTask(task.id, { parameters: { city: 'Porto' } });
      expect(await found(engine.store, { task_type_id: type.id, q: 'lisbon' })).toEqual([]);
      expect(await found(engine.store, { task_type_id: type.id, q: 'porto' })).toEqual([task.id]);
      await engine.store.deleteTask(task.id);
      expect(await found(engine.store, { task_type_id: type.id, q: 'porto' })).toEqual([]);
    });

    it('goes with the other filters, and pages in id order, newest or oldest first', async () => {
      const type = await newType(engine.store);
      const tasks: Task[] = [];
      for (let i = 0; i < 7; i++) tasks.push(await newTask(engine.store, type, { parameters: { note: i % 2 ? 'invoice odd' : 'invoice even' }, priority: 1 + i }));
      const ids = idsOf(tasks);
      const pages: number[][] = [];
      let cursor: string | undefined;
      do {
        const page = await engine.store.listTaskPage({ task_type_id: type.id, q: 'invoice', limit: 3, cursor });
        pages.push(idsOf(page.items));
        cursor = page.next_cursor ?? undefined;
      } while (cursor);
      expect(pages.flat()).toEqual([...ids].reverse());
      expect(pages.map((page) => page.length)).toEqual([3, 3, 1]);
      expect(await found(engine.store, { task_type_id: type.id, q: 'invoice', sort: 'oldest', limit: 2 })).toEqual(ids.slice(0, 2));
      expect(await found(engine.store, { task_type_id: type.id, q: 'odd', priority_max: 4 })).toEqual([ids[3]!, ids[1]!]);
      await engine.store.cancelTask(ids[5]!);
      expect(await found(engine.store, { task_type_id: type.id, q: 'odd', status: ['cancelled'] })).toEqual([ids[5]!]);
    });

    it('selects the tasks of a bulk action', async () => {
      const type = await newType(engine.store);
      const keep = await newTask(engine.store, type, { parameters: { batch: 'keep' } });
      const drop = await newTask(engine.store, type, { parameters: { batch: 'drop' } });
      expect(await engine.store.cancelTasks({ filter: { task_type_id: type.id, q: 'drop' }, limit: 1000 })).toEqual({ changed: 1, more: false });
      expect((await engine.store.getTask(drop.id)).status).toBe('cancelled');
      expect((await engine.store.getTask(keep.id)).status).toBe('pending');
    });

    it('refuses a query without a word, with too many, or with a sort other than newest and oldest', async () => {
      const type = await newType(engine.store);
      expect(await problemsOf(engine.store.listTaskPage({ task_type_id: type.id, q: ' -- ', limit: 10 }))).toEqual([
        expect.objectContaining({ path: ['q'] }),
      ]);
      expect(await problemsOf(engine.store.listTaskPage({ q: Array.from({ length: 17 }, (_, i) => `w${i}`).join(' '), limit: 10 }))).toEqual([
        expect.objectContaining({ path: ['q'] }),
      ]);
      expect(await problemsOf(engine.store.listTaskPage({ q: 'x', sort: 'priority', limit: 10 }))).toEqual([
        expect.objectContaining({ path: ['sort'] }),
      ]);
    });
  });
});
