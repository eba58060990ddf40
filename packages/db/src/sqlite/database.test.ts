import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { TaskFilter } from '../store.js';
import { openSqlite, type SqliteDb } from './database.js';
import { SqliteTaskStore } from './store.js';
import { listTasksQuery } from './tasks.js';

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

  it.each<[string, TaskFilter]>([
    ['no filter', { limit: 100 }],
    ['task_type_id', { task_type_id: 1, limit: 100 }],
    ['status', { status: 'pending', limit: 100 }],
    ['task_type_id and status', { task_type_id: 1, status: 'pending', limit: 100 }],
  ])('lists tasks through an index, without sorting, with %s', (_case, filter) => {
    const db = open(tempPath());
    const { sql, params } = listTasksQuery(db, filter).toSQL();
    const plan = db.$client
      .prepare(`explain query plan ${sql}`)
      .all(...params)
      .map((row) => (row as { detail: string }).detail)
      .join('\n');
    expect(plan).toMatch(/USING (COVERING )?INDEX task_list_/);
    expect(plan).not.toMatch(/SCAN task_list$|TEMP B-TREE/m);
  });
});
