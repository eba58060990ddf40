import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SqliteTaskStore } from './store.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** The counts by type name and status, counted from the rows themselves. */
function countedFromRows(store: SqliteTaskStore): Record<string, number> {
  const rows = store.db.$client
    .prepare('select t.name as task_type, l.status, count(*) as count from task_list l join task_types t on t.id = l.task_type_id group by 1, 2')
    .all() as { task_type: string; status: string; count: number }[];
  return Object.fromEntries(rows.map((row) => [`${row.task_type}/${row.status}`, row.count]));
}

async function kept(store: SqliteTaskStore): Promise<Record<string, number>> {
  return Object.fromEntries((await store.countTasks()).map((row) => [`${row.task_type}/${row.status}`, row.count]));
}

describe('task counts (the queue depth)', () => {
  it('follow every way a task is created, moved between statuses and deleted', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'prismq-counts-'));
    dirs.push(dir);
    const store = new SqliteTaskStore(join(dir, 'queue.db'));
    const a = await store.createTaskType({ name: 'a', max_attempts: 1 });
    const b = await store.createTaskType({ name: 'b' });
    await store.createTasks(Array.from({ length: 6 }, () => ({ task_type_id: a.id })));
    const { task: lone } = await store.createTask({ task_type_id: b.id });
    expect(await kept(store)).toEqual({ 'a/pending': 6, 'b/pending': 1 });

    const [first, second, third, fourth] = await store.claimTasks({ worker_id: 'w', task_type_ids: [a.id], limit: 4, lease_seconds: 30 });
    const lease = (task: typeof first) => ({ worker_id: 'w', lease_id: task!.lease_id! });
    await store.completeTask(first!.id, lease(first), { ok: true });
    await store.failTask(second!.id, lease(second), 'no', true); // no attempts left: failed
    await store.cancelTask(third!.id);
    await store.retryTask(third!.id);
    await store.updateTask(lone.id, { status: 'completed' });
    await store.deleteTask(fourth!.id);
    expect(await kept(store)).toEqual(countedFromRows(store));
    expect(await kept(store)).toEqual({ 'a/pending': 3, 'a/completed': 1, 'a/failed': 1, 'b/completed': 1 });

    await store.deleteFinishedTasks(new Date(Date.now() + 60_000).toISOString(), 100);
    expect(await kept(store)).toEqual({ 'a/pending': 3 });
    await store.close();
  });
});
