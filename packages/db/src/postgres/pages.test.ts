/** The plans of the task list's pages on PostgreSQL: every walk reads an index (see ../task-query.ts). */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeCursor, TASK_SORTS } from '../rules/index.js';
import type { TaskFilter } from '../store.js';
import { createTestDatabase, postgresTestUrl, type TestDatabase } from '../testing/postgres.js';
import { pageQuery } from './pages.js';
import { PostgresTaskStore } from './store.js';

describe.skipIf(!postgresTestUrl())('task list pages on PostgreSQL', { timeout: 120_000 }, () => {
  let database: TestDatabase;
  let store: PostgresTaskStore;
  afterAll(async () => {
    await store?.close();
    await database?.drop();
  });

  /** 100,000 tasks of 4 types, mostly pending, some completed or failed, of 50 priorities and 1,000 run_at times. */
  beforeAll(async () => {
    database = await createTestDatabase();
    store = await PostgresTaskStore.open(database.url);
    await store.db.query(`INSERT INTO task_types (name, created_at) VALUES ('a', '2026-01-01'), ('b', '2026-01-01'), ('c', '2026-01-01'), ('d', '2026-01-01')`);
    await store.db.query(`INSERT INTO task_list (task_type_id, status, priority, created_at, run_at)
      SELECT 1 + i % 4, CASE WHEN i % 10 = 0 THEN 'completed' WHEN i % 97 = 0 THEN 'failed' ELSE 'pending' END, 1 + i % 50,
             to_char(timestamp '2026-01-01' + i * interval '1 second', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
             to_char(timestamp '2026-01-01' + (i % 1000) * interval '1 minute', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
        FROM generate_series(1, 100000) AS i`);
    await store.db.query('ANALYZE task_list');
  }, 120_000);

  async function planOf(filter: TaskFilter, seqscan = true): Promise<string> {
    const query = pageQuery(filter)!;
    const rows = await store.db.transaction(async (tx) => {
      if (!seqscan) await tx.query('SET LOCAL enable_seqscan = off');
      return tx.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${query.text}`, query.params);
    });
    return rows.map((row) => row['QUERY PLAN']).join('\n');
  }

  /** The part of a plan that chooses the candidates of a page, before it is cut and its rows read. */
  const candidatesOf = (plan: string) => plan.slice(plan.indexOf('Subquery Scan on candidates'));

  it.each<[string, TaskFilter, string]>([
    ['no filter', { limit: 100 }, 'task_list_created_idx'],
    ['a type', { task_type_id: 1, limit: 100 }, 'task_list_type_created_idx'],
    ['statuses', { status: ['failed', 'cancelled'], limit: 100 }, 'task_list_status_created_idx'],
    ['a type by name and a status, oldest first', { task_type: 'b', status: 'failed', sort: 'oldest', limit: 100 }, 'task_list_type_status_created_idx'],
    ['priority order', { sort: 'priority', limit: 100 }, 'task_list_status_priority_idx'],
    ["a type's pending tasks in priority order", { task_type_id: 2, status: 'pending', sort: 'priority', limit: 100 }, 'task_list_pending_type_idx'],
    ['run_at order', { sort: 'run_at', status: ['pending', 'failed'], limit: 100 }, 'task_list_status_run_at_idx'],
  ])('walks the index of the sort, without sorting, with %s', async (_what, filter, index) => {
    const plan = candidatesOf(await planOf(filter));
    expect(plan).toContain(`using ${index} on task_list`);
    expect(plan).not.toMatch(/Seq Scan on task_list|(->|^)\s*Sort\s+\(/m);
  });

  it('reads an index for every combination of filters, sorts and cursors', async () => {
    const T = '2026-01-01T01:00:00.000Z';
    const extras: Partial<TaskFilter>[] = [
      {},
      { priority_min: 10, priority_max: 20 },
      { created_after: T, created_before: '2026-01-01T02:00:00.000Z' },
      { updated_after: T },
      { finished_after: T, finished_before: '2026-01-01T02:00:00.000Z' },
      { run_at_after: T, run_at_before: '2026-01-01T02:00:00.000Z' },
      { worker_id: 'w' },
      { idempotency_key: 'k' },
      { metadata_key: 'user', metadata_value: 'u1' },
    ];
    const statuses: TaskFilter['status'][] = [undefined, 'failed', ['failed', 'cancelled']];
    const types: Partial<TaskFilter>[] = [{}, { task_type_id: 1 }, { task_type: 'b' }];
    for (const sort of TASK_SORTS) {
      const cursors = [undefined, encodeCursor(sort, sort === 'priority' ? [10, T, 5000] : [T, 5000])];
      for (const status of statuses) {
        for (const type of types) {
          for (const extra of extras) {
            for (const cursor of cursors) {
              const filter: TaskFilter = { limit: 101, sort, status, cursor, ...type, ...extra };
              // The planner may prefer scanning a small table, or an index of a filter and a sort of what it finds: what counts is that an index serves.
              const plan = await planOf(filter, false);
              expect(plan, JSON.stringify(filter)).toMatch(/Index (Only )?Scan( Backward)? using task_list_\w+ on task_list/);
              expect(plan, `${JSON.stringify(filter)}\n${plan}`).not.toMatch(/Seq Scan on task_list/);
            }
          }
        }
      }
    }
  });
});
