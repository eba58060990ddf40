import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Placeholder } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/better-sqlite3';
import { migrate } from 'drizzle-orm/better-sqlite3/migrator';
import { afterEach, describe, expect, it } from 'vitest';
import type { TaskFilter } from '../store.js';
import { MIGRATIONS_FOLDER, openSqlite, type SqliteDb } from './database.js';
import { SqliteTaskStore } from './store.js';
import { claimSql, NEXT_CLAIMABLE_SQL } from './queue.js';
import { normalizeFilter } from '../rules/index.js';
import * as rules from '../rules/index.js';
import { checksRows } from '../task-query.js';
import { frontierQuery, walkQueries } from './pages.js';

const dirs: string[] = [];
const opened: SqliteDb[] = [];
afterEach(() => {
  for (const db of opened.splice(0)) if (db.$client.open) db.$client.close();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function tempPath(): string {
  const dir = mkdtempSync(join(tmpdir(), 'prismq-db-'));
  dirs.push(dir);
  return join(dir, 'sub', 'api.db');
}

function open(path: string): SqliteDb {
  const db = openSqlite(path);
  opened.push(db);
  return db;
}

describe('openSqlite', () => {
  it('creates the file and its folders and applies the migrations to an empty database', () => {
    const db = open(tempPath());
    const tables = db.$client
      .prepare("select name from sqlite_master where type = 'table' and name not like 'sqlite_%' order by name")
      .pluck()
      .all();
    expect(tables).toEqual(expect.arrayContaining(['__drizzle_migrations', 'task_list', 'task_types']));
    const columns = db.$client.prepare('select name from pragma_table_info(?)').pluck();
    expect(columns.all('task_types')).toEqual(expect.arrayContaining([
      'id', 'name', 'description', 'parameters_schema', 'metadata', 'is_active', 'created_at', 'updated_at',
    ]));
    expect(columns.all('task_list')).toEqual(expect.arrayContaining([
      'id', 'task_type_id', 'status', 'parameters', 'priority', 'metadata', 'result', 'error_message',
      'created_at', 'updated_at', 'started_at', 'completed_at',
    ]));
  });

  it('uses WAL, enforces foreign keys and waits on locks', () => {
    const db = open(tempPath());
    expect(db.$client.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(db.$client.pragma('foreign_keys', { simple: true })).toBe(1);
    expect(db.$client.pragma('busy_timeout', { simple: true })).toBeGreaterThan(0);
    expect(() =>
      db.$client.prepare("insert into task_list (task_type_id, created_at) values (999, '2025-01-01T00:00:00.000Z')").run(),
    ).toThrow(/FOREIGN KEY/);
  });

  it('opens an existing database again without re-applying migrations or losing rows', async () => {
    const path = tempPath();
    const first = new SqliteTaskStore(path);
    const type = await first.createTaskType({ name: 'kept' });
    await first.createTask({ task_type_id: type.id });
    await first.close();

    const second = new SqliteTaskStore(path);
    expect(await second.listTaskTypes({})).toHaveLength(1);
    expect(await second.listTasks({ limit: 10 })).toHaveLength(1);
    expect(await second.ping()).toBe(true);
    await second.close();
  });

  /** The query plan of a prepared statement, with its placeholders bound from `values`. */
  function planOf(db: SqliteDb, query: { sql: string; params: unknown[] }, values: Record<string, unknown>): string {
    const params = query.params.map((param) => (param instanceof Placeholder ? values[param.name] : param));
    return db.$client
      .prepare(`explain query plan ${query.sql}`)
      .all(...params)
      .map((row) => (row as { detail: string }).detail)
      .join('\n');
  }

  /** 20,000 tasks of 4 types, mostly pending, some completed or failed, as a busy queue has. */
  function populated(): SqliteDb {
    const db = open(tempPath());
    db.$client.exec(`
      insert into task_types (name, created_at) values ('a', '2026-01-01'), ('b', '2026-01-01'), ('c', '2026-01-01'), ('d', '2026-01-01');
      with recursive n(i) as (select 1 union all select i + 1 from n where i < 20000)
      insert into task_list (task_type_id, status, created_at, run_at)
      select 1 + i % 4, case when i % 10 = 0 then 'completed' when i % 97 = 0 then 'failed' else 'pending' end,
             strftime('%Y-%m-%dT%H:%M:%fZ', '2026-01-01', '+' || i || ' seconds'), '2026-01-01'
        from n;
    `);
    return db;
  }

  describe.each([
    ['without statistics', false],
    ['after ANALYZE', true],
  ])('on a populated database, %s', (_case, analyze) => {
    /** The plan of each walk of a page of the list (see task-query.ts), whole and as one step (up to a key, see frontierSql). */
    const walkPlans = (db: SqliteDb, filter: TaskFilter): string[] => {
      const { match, sort, after, limit } = normalizeFilter(filter);
      const until = sort === 'priority' ? [50, '2026-01-01T03:00:00.000Z', 9000] : ['2026-01-01T03:00:00.000Z', 9000];
      return [...walkQueries(match, sort, after, limit), ...walkQueries(match, sort, after, limit, match.words ? [9000] : until)].map(({ sql, params }) => planOf(db, { sql, params }, {}));
    };
    /** The plan of where each walk's next step ends, for the walks that go in steps: from the index alone. */
    const frontierPlans = (db: SqliteDb, filter: TaskFilter): string[] => {
      const { match, sort, after } = normalizeFilter(filter);
      return rules
        .walksOf(match.statuses, sort, match.words !== undefined)
        .filter((status) => checksRows(match, sort, status))
        .map((status) => planOf(db, frontierQuery(match, sort, status, after, 1000), {}));
    };

    it.each<[string, TaskFilter, string]>([
      ['no filter', { limit: 100 }, 'task_list_created_idx'],
      ['task_type_id', { task_type_id: 1, limit: 100 }, 'task_list_type_created_idx'],
      ['status', { status: 'failed', limit: 100 }, 'task_list_status_created_idx'],
      ['task_type_id and status', { task_type_id: 1, status: 'failed', limit: 100 }, 'task_list_type_status_created_idx'],
      ['the type by name and statuses', { task_type: 'a', status: ['failed', 'cancelled'], limit: 100 }, 'task_list_type_status_created_idx'],
      ['statuses, oldest first', { status: ['failed', 'completed'], sort: 'oldest', limit: 100 }, 'task_list_status_created_idx'],
      ['priority order', { sort: 'priority', limit: 100 }, 'task_list_status_priority_idx'],
      ["a type's pending tasks in priority order", { task_type_id: 2, status: 'pending', sort: 'priority', limit: 100 }, 'task_list_pending_type_idx'],
      ['run_at order', { status: ['pending', 'failed'], sort: 'run_at', limit: 100 }, 'task_list_status_run_at_idx'],
    ])('lists tasks through an index, without sorting, with %s', (_filter, filter, index) => {
      const db = populated();
      if (analyze) db.$client.exec('analyze');
      for (const plan of walkPlans(db, filter)) {
        expect(plan).toMatch(new RegExp(`USING (COVERING )?INDEX ${index}\\b`));
        expect(plan).not.toMatch(/SCAN task_list$|TEMP B-TREE/m);
      }
    });

    it('walks an index in the sort order, never sorting or scanning the table, for every combination of filters', () => {
      const db = populated();
      if (analyze) db.$client.exec('analyze');
      const T = '2026-01-01T01:00:00.000Z';
      const extras: Partial<TaskFilter>[] = [
        {},
        { priority_min: 10, priority_max: 20 },
        { created_after: T, created_before: '2026-01-01T02:00:00.000Z' },
        { updated_after: T, updated_before: '2026-01-01T02:00:00.000Z' },
        { finished_after: T, finished_before: '2026-01-01T02:00:00.000Z' },
        { run_at_after: T, run_at_before: '2026-01-01T02:00:00.000Z' },
        { worker_id: 'w' },
        { idempotency_key: 'k' },
        { metadata_key: 'user', metadata_value: 'u1' },
        { priority_min: 5, created_after: T, finished_before: T, worker_id: 'w', metadata_key: 'a', metadata_value: 'b' },
      ];
      const statuses: TaskFilter['status'][] = [undefined, 'failed', 'pending', ['failed', 'cancelled'], ['pending', 'running', 'completed']];
      const types: Partial<TaskFilter>[] = [{}, { task_type_id: 1 }, { task_type: 'b' }];
      let checked = 0;
      let stepped = 0;
      for (const sort of rules.TASK_SORTS) {
        const cursors = [undefined, rules.encodeCursor(sort, sort === 'priority' ? [10, T, 5000] : [T, 5000])];
        for (const status of statuses) {
          for (const type of types) {
            for (const extra of extras) {
              for (const cursor of cursors) {
                const filter: TaskFilter = { limit: 101, sort, status, cursor, ...type, ...extra };
                for (const plan of walkPlans(db, filter)) {
                  const what = `${JSON.stringify(filter)}:\n${plan}`;
                  expect(plan, what).toMatch(/^(SEARCH|SCAN) task_list USING (COVERING )?INDEX task_list_\w+/m);
                  expect(plan, what).not.toMatch(/TEMP B-TREE|SCAN task_list$/m);
                  checked++;
                }
                for (const plan of frontierPlans(db, filter)) {
                  const what = `${JSON.stringify(filter)}:\n${plan}`;
                  expect(plan, what).toMatch(/^(SEARCH|SCAN) task_list USING COVERING INDEX task_list_\w+/m);
                  expect(plan, what).not.toMatch(/TEMP B-TREE/m);
                  stepped++;
                }
              }
            }
          }
        }
      }
      expect(checked).toBeGreaterThan(2000);
      expect(stepped).toBeGreaterThan(500);
    }, 60_000);

    it('searches through the search index in id order, never sorting or scanning the table, with any other filter', () => {
      const db = populated();
      if (analyze) db.$client.exec('analyze');
      const T = '2026-01-01T01:00:00.000Z';
      const extras: Partial<TaskFilter>[] = [
        {},
        { status: 'pending' },
        { status: ['failed', 'cancelled'], task_type_id: 1 },
        { task_type: 'b', priority_min: 10, created_after: T, worker_id: 'w', metadata_key: 'a', metadata_value: 'b' },
      ];
      for (const sort of ['newest', 'oldest'] as const) {
        for (const cursor of [undefined, rules.encodeCursor(sort, [T, 5000])]) {
          for (const extra of extras) {
            const filter: TaskFilter = { limit: 51, sort, cursor, q: 'invoice 42', ...extra };
            // The walk whole, and as one step.
            const plans = walkPlans(db, filter);
            expect(plans).toHaveLength(2);
            for (const plan of plans) {
              const what = `${JSON.stringify(filter)}:\n${plan}`;
              expect(plan, what).toMatch(/^SCAN task_search VIRTUAL TABLE INDEX/m);
              expect(plan, what).toMatch(/^SEARCH task_list USING INTEGER PRIMARY KEY/m);
              expect(plan, what).not.toMatch(/TEMP B-TREE|SCAN task_list$/m);
            }
            for (const plan of frontierPlans(db, filter)) {
              expect(plan, `${JSON.stringify(filter)}:\n${plan}`).toMatch(/^SCAN task_search VIRTUAL TABLE INDEX \d+:[^\n]*$/);
            }
            expect(frontierPlans(db, filter)).toHaveLength(Object.keys(extra).length > 0 ? 1 : 0);
          }
        }
      }
    });

    it("claims through each type's pending index, never reading another type's backlog", () => {
      const db = populated();
      if (analyze) db.$client.exec('analyze');
      const values = { type_0: 2, type_1: 3, now: '2026-06-01', limit: 10, worker_id: 'w', lease_expires_at: '2026-06-01' };
      const plan = db.$client
        .prepare(`explain query plan ${claimSql(2)}`)
        .all(values)
        .map((row) => (row as { detail: string }).detail)
        .join('\n');
      expect(plan.match(/USING (COVERING )?INDEX task_list_pending_type_idx/g)).toHaveLength(2);
      expect(plan).not.toMatch(/SCAN task_list\b/);
    });

    it("looks for the next task to come due through each type's pending index, never another type's backlog", () => {
      const db = populated();
      if (analyze) db.$client.exec('analyze');
      const plan = db.$client
        .prepare(`explain query plan ${NEXT_CLAIMABLE_SQL}`)
        .all({ type_ids: '[2, 3]' })
        .map((row) => (row as { detail: string }).detail)
        .join('\n');
      expect(plan).toMatch(/SEARCH task_list USING (COVERING )?INDEX task_list_pending_type_idx \(task_type_id=\?\)/);
      expect(plan).not.toMatch(/task_list_status_run_at_idx|SCAN task_list\b/);
    });
  });
});

describe('migrations', () => {
  it('adds the queue columns to a database made before them without losing rows', async () => {
    // A copy of the migrations that stops at the first one: the database as it was then.
    const path = tempPath();
    const firstOnly = join(path, '..', '..', 'first-migration');
    cpSync(MIGRATIONS_FOLDER, firstOnly, { recursive: true });
    const journalPath = join(firstOnly, 'meta', '_journal.json');
    const journal = JSON.parse(readFileSync(journalPath, 'utf8'));
    journal.entries = journal.entries.slice(0, 1);
    writeFileSync(journalPath, JSON.stringify(journal));

    mkdirSync(join(path, '..'), { recursive: true });
    const old = new Database(path);
    migrate(drizzle(old), { migrationsFolder: firstOnly });
    old.exec(`
      insert into task_types (name, created_at) values ('legacy', '2025-01-01T00:00:00.000Z');
      insert into task_list (task_type_id, status, priority, created_at) values (1, 'pending', 7, '2025-01-02T00:00:00.000Z');
      insert into task_list (task_type_id, status, created_at, completed_at) values (1, 'completed', '2025-01-03T00:00:00.000Z', '2025-01-03T00:01:00.000Z');
    `);
    old.close();

    const store = new SqliteTaskStore(path);
    const tasks = await store.listTasks({ limit: 10 });
    expect(tasks).toHaveLength(2);
    expect(tasks[1]).toMatchObject({ priority: 7, status: 'pending', attempts: 0, max_attempts: 3, run_at: '2025-01-02T00:00:00.000Z' });
    expect(tasks[0]).toMatchObject({ status: 'completed', run_at: '2025-01-03T00:00:00.000Z', lease_id: null });
    expect(await store.getTaskType(1)).toMatchObject({ name: 'legacy', max_attempts: 3, retry_base_seconds: 5, retry_max_seconds: 3600 });
    // The queue depth counts the rows that were there before the counts were kept.
    expect(await store.countTasks()).toEqual(
      expect.arrayContaining([
        { task_type: 'legacy', status: 'pending', count: 1 },
        { task_type: 'legacy', status: 'completed', count: 1 },
      ]),
    );
    // The migrated pending task is claimable at once.
    const claimed = await store.claimTasks({ worker_id: 'w', limit: 5, lease_seconds: 30 });
    expect(claimed.map((t) => t.priority)).toEqual([7]);
    await store.close();
  });
});
