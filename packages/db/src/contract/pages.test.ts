/** listTaskPage: keyset pages in every sort, stable under creates and deletes, and the list's filters. */
import { describe, expect, it } from 'vitest';
import { ValidationError } from '../errors.js';
import { MAX_LIST_BYTES } from '../rules/index.js';
import type { TaskFilter, TaskSort, TaskStore } from '../store.js';
import type { Task } from '../types.js';
import { forEachEngine } from './engines.js';
import { claimOne, idsOf, leaseOf, newTask, newTasks, newType, problemsOf, rejection } from './fixtures.js';

/** Every page of a filter from the first, walked `limit` at a time; `between` runs after each page. */
async function walk(store: TaskStore, filter: TaskFilter, between: () => Promise<void> = async () => {}): Promise<Task[]> {
  const seen: Task[] = [];
  let cursor: string | undefined;
  for (let pages = 0; pages < 1000; pages++) {
    const page = await store.listTaskPage({ ...filter, cursor });
    seen.push(...page.items);
    if (page.next_cursor === null) return seen;
    cursor = page.next_cursor;
    await between();
  }
  throw new Error('more than 1000 pages');
}

/** The order of each sort, written out here, independently of the store's rules. */
const ORDERS: Record<TaskSort, (a: Task, b: Task) => number> = {
  newest: (a, b) => (a.created_at === b.created_at ? b.id - a.id : a.created_at < b.created_at ? 1 : -1),
  oldest: (a, b) => (a.created_at === b.created_at ? a.id - b.id : a.created_at < b.created_at ? -1 : 1),
  priority: (a, b) => a.priority - b.priority || (a.run_at === b.run_at ? a.id - b.id : a.run_at < b.run_at ? -1 : 1),
  run_at: (a, b) => (a.run_at === b.run_at ? a.id - b.id : a.run_at < b.run_at ? -1 : 1),
};

forEachEngine((engine) => {
  describe('listTaskPage', () => {
    it.each<TaskSort>(['newest', 'oldest', 'priority', 'run_at'])('walks every task once, in %s order, a page at a time', async (sort) => {
      const type = await newType(engine.store);
      const soon = Date.now() + 3_600_000;
      const created: Task[] = [];
      for (let i = 0; i < 11; i++) {
        created.push(await newTask(engine.store, type, { priority: 1 + (i % 3), run_at: new Date(soon - (i % 4) * 60_000).toISOString() }));
      }
      const all = await walk(engine.store, { task_type_id: type.id, sort, limit: 3 });
      expect(idsOf(all)).toEqual(idsOf([...created].sort(ORDERS[sort])));
      // The first page is what listTasks answers.
      expect(idsOf(await engine.store.listTasks({ task_type_id: type.id, sort, limit: 3 }))).toEqual(idsOf(all.slice(0, 3)));
    });

    it('answers next_cursor null on the last page, and on a page that holds everything', async () => {
      const type = await newType(engine.store);
      for (let i = 0; i < 4; i++) await newTask(engine.store, type);
      expect((await engine.store.listTaskPage({ task_type_id: type.id, limit: 4 })).next_cursor).toBeNull();
      const first = await engine.store.listTaskPage({ task_type_id: type.id, limit: 3 });
      expect(first.next_cursor).toEqual(expect.any(String));
      const last = await engine.store.listTaskPage({ task_type_id: type.id, limit: 3, cursor: first.next_cursor! });
      expect(last.items).toHaveLength(1);
      expect(last.next_cursor).toBeNull();
    });

    it('lists every task that exists throughout exactly once while tasks are created and deleted between pages', async () => {
      const type = await newType(engine.store);
      const kept: Task[] = [];
      const doomed: Task[] = [];
      for (let i = 0; i < 20; i++) (i % 3 === 0 ? doomed : kept).push(await newTask(engine.store, type));
      for (const sort of ['newest', 'oldest'] as const) {
        const added: Task[] = [];
        const toDelete = [...doomed];
        const seen = await walk(engine.store, { task_type_id: type.id, sort, limit: 4 }, async () => {
          added.push(await newTask(engine.store, type));
          const gone = toDelete.shift();
          if (gone) await engine.store.deleteTask(gone.id);
        });
        const ids = idsOf(seen);
        expect(new Set(ids).size, 'no task twice').toBe(ids.length);
        expect(ids).toEqual(expect.arrayContaining(idsOf(kept)));
        doomed.splice(0, doomed.length, ...added);
      }
    });

    it('ends a page before the task that would take it past MAX_LIST_BYTES, with a cursor to the rest', async () => {
      const store = await engine.fresh();
      const type = await newType(store);
      const large = { blob: 'x'.repeat(MAX_LIST_BYTES / 3) };
      const created: Task[] = [];
      for (let i = 0; i < 4; i++) created.push(await newTask(store, type, { parameters: large }));
      const first = await store.listTaskPage({ limit: 100 });
      expect(first.items.length).toBeLessThan(4);
      expect(first.next_cursor).not.toBeNull();
      expect(idsOf(await walk(store, { limit: 100 }))).toEqual(idsOf(created).reverse());
    });

    it('refuses a cursor that no page gave, and one of another sort, at `cursor`', async () => {
      const type = await newType(engine.store);
      for (let i = 0; i < 3; i++) await newTask(engine.store, type);
      const { next_cursor } = await engine.store.listTaskPage({ task_type_id: type.id, limit: 1 });
      for (const cursor of ['garbage', 'eyJzIjoibmV3ZXN0In0', `${next_cursor!}x`, Buffer.from('{"s":"newest","k":["yesterday",1]}').toString('base64url')]) {
        expect((await problemsOf(engine.store.listTaskPage({ limit: 1, cursor }))).map((p) => p.path)).toEqual([['cursor']]);
      }
      const problems = await problemsOf(engine.store.listTaskPage({ limit: 1, sort: 'oldest', cursor: next_cursor! }));
      expect(problems).toEqual([expect.objectContaining({ path: ['cursor'], message: expect.stringContaining("'newest'") })]);
    });

    it('refuses a time that is not ISO 8601 and a metadata key without its value', async () => {
      expect((await problemsOf(engine.store.listTaskPage({ limit: 1, created_after: 'yesterday' }))).map((p) => p.path)).toEqual([['created_after']]);
      expect((await problemsOf(engine.store.listTaskPage({ limit: 1, metadata_key: 'k' }))).map((p) => p.path)).toEqual([['metadata_value']]);
      expect(await rejection(engine.store.listTaskPage({ limit: 1, sort: 'size' as TaskSort }))).toBeInstanceOf(ValidationError);
    });
  });

  describe('listTaskPage filters', () => {
    it('filters by several statuses, by the type by id or by name, and by priority', async () => {
      const type = await newType(engine.store);
      const other = await newType(engine.store);
      const [a, b, c, d] = [
        await newTask(engine.store, type, { priority: 5 }),
        await newTask(engine.store, type, { priority: 50 }),
        await newTask(engine.store, type, { priority: 500 }),
        await newTask(engine.store, other, { priority: 50 }),
      ];
      await engine.store.updateTask(a!.id, { status: 'failed' });
      await engine.store.cancelTask(b!.id);
      const ids = async (filter: Omit<TaskFilter, 'limit'>) => idsOf((await engine.store.listTaskPage({ limit: 100, ...filter })).items);
      expect(await ids({ task_type_id: type.id, status: ['failed', 'cancelled'] })).toEqual([b!.id, a!.id]);
      expect(await ids({ task_type: type.name, status: ['cancelled', 'pending'] })).toEqual([c!.id, b!.id]);
      expect(await ids({ task_type: other.name })).toEqual([d!.id]);
      expect(await ids({ task_type: 'no_such_type' })).toEqual([]);
      expect(await ids({ task_type_id: type.id, task_type: other.name })).toEqual([]);
      expect(await ids({ task_type_id: type.id, priority_min: 6, priority_max: 500 })).toEqual([c!.id, b!.id]);
      expect(await ids({ task_type_id: type.id, priority_max: 50, sort: 'priority' })).toEqual([a!.id, b!.id]);
      for (const sort of ['newest', 'oldest', 'priority', 'run_at'] as const) {
        expect((await ids({ task_type_id: type.id, status: ['failed', 'pending'], sort })).sort()).toEqual([a!.id, c!.id].sort());
      }
    });

    it('filters by created, updated, finished and run_at times, at or after and before', async () => {
      const type = await newType(engine.store);
      const first = await newTask(engine.store, type, { run_at: '2031-01-01T00:00:00.000Z' });
      await expect.poll(() => new Date().toISOString()).not.toBe(first.created_at);
      const second = await newTask(engine.store, type, { run_at: '2031-06-01T00:00:00.000Z' });
      const done = await engine.store.updateTask(second.id, { status: 'completed' });
      const ids = async (filter: Omit<TaskFilter, 'limit'>) => idsOf((await engine.store.listTaskPage({ limit: 100, task_type_id: type.id, ...filter })).items);
      expect(await ids({ created_after: second.created_at })).toEqual([second.id]);
      expect(await ids({ created_before: second.created_at })).toEqual([first.id]);
      // With an offset: the same instant.
      expect(await ids({ created_before: second.created_at.replace('Z', '+00:00') })).toEqual([first.id]);
      expect(await ids({ updated_after: done.updated_at! })).toEqual([second.id]);
      expect(await ids({ finished_after: done.completed_at!, finished_before: '2100-01-01T00:00:00Z' })).toEqual([second.id]);
      expect(await ids({ finished_before: done.completed_at! })).toEqual([]);
      expect(await ids({ run_at_after: '2031-03-01T00:00:00Z', sort: 'run_at' })).toEqual([second.id]);
      expect(await ids({ run_at_before: '2031-03-01T00:00:00Z', sort: 'run_at' })).toEqual([first.id]);
      expect(await ids({ run_at_after: '2030-12-31T00:00:00+02:00', run_at_before: '2031-07-01T00:00:00Z', sort: 'run_at' })).toEqual([first.id, second.id]);
    });

    it('finds the few tasks a filter matches among many it does not, in order, and a bulk action by that filter takes exactly them', async () => {
      // On SQLite, the suite's walks go in steps of a few entries (see engines.ts): the matches lie
      // many steps apart, with steps that find nothing between them.
      const type = await newType(engine.store);
      const tasks = await newTasks(engine.store, type, 60, { metadata: { group: 'shared' } });
      const rare = [tasks[4]!, tasks[31]!, tasks[58]!];
      for (const task of rare) await engine.store.updateTask(task.id, { metadata: { group: 'shared', tenant: 'rare' } });
      for (const sort of ['newest', 'oldest', 'priority', 'run_at'] as const) {
        const filter: TaskFilter = { task_type_id: type.id, metadata_key: 'tenant', metadata_value: 'rare', sort, limit: 2 };
        const first = await engine.store.listTaskPage(filter);
        expect(first.items, sort).toHaveLength(2);
        expect(idsOf(await walk(engine.store, filter)), sort).toEqual(idsOf([...rare].sort(ORDERS[sort])));
      }
      expect(idsOf(await engine.store.listTasks({ metadata_key: 'tenant', metadata_value: 'rare', status: 'pending', sort: 'priority', limit: 10 }))).toEqual(idsOf(rare));
      // A search for a word every task holds, with a filter few match: the search walk, along its own index.
      for (const sort of ['newest', 'oldest'] as const) {
        const found = await walk(engine.store, { q: 'shared', metadata_key: 'tenant', metadata_value: 'rare', sort, limit: 2 });
        expect(idsOf(found), sort).toEqual(idsOf([...rare].sort(ORDERS[sort])));
      }
      expect(await engine.store.cancelTasks({ filter: { task_type_id: type.id, metadata_key: 'tenant', metadata_value: 'rare' }, limit: 2 })).toEqual({ changed: 2, more: true });
      expect(await engine.store.cancelTasks({ filter: { task_type_id: type.id, metadata_key: 'tenant', metadata_value: 'rare' }, limit: 2 })).toEqual({ changed: 1, more: false });
      const cancelled = await walk(engine.store, { task_type_id: type.id, status: 'cancelled', limit: 100 });
      expect(idsOf(cancelled).sort((a, b) => a - b)).toEqual(idsOf(rare));
    });

    it('filters by worker, idempotency key and a metadata field', async () => {
      const type = await newType(engine.store);
      const keyed = await newTask(engine.store, type, { idempotency_key: 'order-1', metadata: { customer: 'acme', n: 42, vip: true, nested: { a: 1 } } });
      const plain = await newTask(engine.store, type, { metadata: { customer: 'other', n: 7, vip: false } });
      const claimed = await claimOne(engine.store, type, { worker_id: 'worker-9' });
      expect(leaseOf(claimed).worker_id).toBe('worker-9');
      const ids = async (filter: Omit<TaskFilter, 'limit'>) => idsOf((await engine.store.listTaskPage({ limit: 100, task_type_id: type.id, ...filter })).items);
      expect(await ids({ worker_id: 'worker-9' })).toEqual([claimed.id]);
      expect(await ids({ idempotency_key: 'order-1' })).toEqual([keyed.id]);
      expect(idsOf((await engine.store.listTaskPage({ limit: 100, idempotency_key: 'order-1', task_type: type.name })).items)).toEqual([keyed.id]);
      expect(await ids({ metadata_key: 'customer', metadata_value: 'acme' })).toEqual([keyed.id]);
      expect(await ids({ metadata_key: 'n', metadata_value: '7' })).toEqual([plain.id]);
      expect(await ids({ metadata_key: 'vip', metadata_value: 'true' })).toEqual([keyed.id]);
      expect(await ids({ metadata_key: 'vip', metadata_value: 'false' })).toEqual([plain.id]);
      expect(await ids({ metadata_key: 'nested', metadata_value: '{"a":1}' })).toEqual([]);
      expect(await ids({ metadata_key: 'customer', metadata_value: 'ACME' })).toEqual([]);
      expect(await ids({ metadata_key: 'missing', metadata_value: 'acme' })).toEqual([]);
      expect(await ids({ worker_id: 'nobody\u0000' })).toEqual([]);
    });
  });
});
