/**
 * SQLite's list walks in steps (see pages.ts WALK_STEP): a page, or a bulk action's selection,
 * whose filter passes over many rows it does not match hands the event loop back between steps,
 * so that the server answers other requests meanwhile; and the write of a bulk action happens
 * only once its tasks are found.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import * as rules from '../rules/index.js';
import { SqliteTaskStore } from './store.js';

let dir: string | undefined;
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

async function storeWithTasks(walkStep: number) {
  dir = mkdtempSync(join(tmpdir(), 'prismq-steps-'));
  const store = new SqliteTaskStore(join(dir, 'queue.db'), { walkStep });
  const type = await store.createTaskType({ name: 'many' });
  const tasks = await store.createTasks(Array.from({ length: 50 }, (_, i) => ({ task_type_id: type.id, metadata: { tenant: i === 7 ? 'rare' : 'common' } })));
  return { store, rare: tasks[7]! };
}

/** Whether a callback queued for the next turn of the event loop ran before `work` was done. */
async function handsBackTheEventLoop(work: () => Promise<unknown>): Promise<boolean> {
  let ran = false;
  setImmediate(() => (ran = true));
  await work();
  return ran;
}

describe('SQLite list walks in steps', () => {
  it('hands the event loop back between steps of a walk that passes over rows it does not match, and finds the same page', async () => {
    const { store, rare } = await storeWithTasks(5);
    try {
      const filter = { metadata_key: 'tenant', metadata_value: 'rare', limit: 10 };
      let page: Awaited<ReturnType<typeof store.listTaskPage>> | undefined;
      expect(await handsBackTheEventLoop(async () => (page = await store.listTaskPage(filter)))).toBe(true);
      expect(page!.items.map((task) => task.id)).toEqual([rare.id]);
      expect(page!.next_cursor).toBeNull();
      // A filter the index bounds needs no steps: the page is read at once.
      expect(await handsBackTheEventLoop(() => store.listTaskPage({ status: 'pending', limit: 10 }))).toBe(false);
    } finally {
      await store.close();
    }
  });

  it('selects a bulk action’s tasks in steps, before its write: writes asked for meanwhile go first', async () => {
    const { store, rare } = await storeWithTasks(5);
    try {
      const done: string[] = [];
      const bulk = store.cancelTasks({ filter: { metadata_key: 'tenant', metadata_value: 'rare' }, limit: 10 }).then((result) => {
        done.push('bulk');
        return result;
      });
      // Asked for on the next turn: the bulk action is still walking, and holds no write lock.
      setImmediate(() => void store.createTask({ task_type_id: rare.task_type_id }).then(() => done.push('create')));
      expect(await bulk).toEqual({ changed: 1, more: false });
      await vi.waitFor(() => expect(done).toHaveLength(2));
      expect(done).toEqual(['create', 'bulk']);
      expect((await store.getTask(rare.id)).status).toBe('cancelled');
    } finally {
      await store.close();
    }
  });
});

describe('SQLite long walks take turns', () => {
  it('lets two long walks go on at once: a third, shorter one waits for one of them to end', async () => {
    dir = mkdtempSync(join(tmpdir(), 'prismq-steps-'));
    const store = new SqliteTaskStore(join(dir, 'queue.db'), { walkStep: 2 });
    try {
      const type = await store.createTaskType({ name: 'many' });
      const tasks = await store.createTasks(Array.from({ length: 40 }, () => ({ task_type_id: type.id })));
      const ended: string[] = [];
      const nobody = { metadata_key: 'tenant', metadata_value: 'nobody', sort: 'oldest', limit: 10 } as const;
      const list = (name: string, cursor?: string) => store.listTaskPage({ ...nobody, cursor }).then(() => ended.push(name));
      // Two walks of the whole table (20 steps each), and one from its last few tasks (3 steps),
      // which would end first if nothing held it back.
      const nearTheEnd = tasks[34]!;
      const cursor = rules.encodeCursor('oldest', [nearTheEnd.created_at, nearTheEnd.id]);
      await Promise.all([list('long 1'), list('long 2'), list('short', cursor)]);
      expect(ended.indexOf('short'), ended.join(', ')).toBeGreaterThan(0);
      expect(ended).toHaveLength(3);
    } finally {
      await store.close();
    }
  });
});
