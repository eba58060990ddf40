/**
 * The task list's pages on SQLite (see TaskRecordStore.listTaskPage): one index walk per status
 * (see rules/pages.ts walksOf and ../task-query.ts), each a prepared statement, merged here; the
 * page is chosen by each row's size before any row is read whole.
 */
import type Database from 'better-sqlite3';
import { sql } from 'drizzle-orm';
import { cutPage, ftsQuery, inOrderOf, mergeWalks, nextCursor, normalizeFilter, walksOf, type Candidate, type KeyValues, type NormalMatch, type TaskSort } from '../rules/index.js';
import { taskList } from '../schema.js';
import type { TaskFilter, TaskPage } from '../store.js';
import { Params, walkSql, type Dialect } from '../task-query.js';
import type { SqliteDb } from './database.js';
import { preparedPer } from './util.js';

export const sqliteDialect: Dialect = {
  indexHint: (index) => ` INDEXED BY ${index}`,
  unindexed: (column) => `+${column}`,
  placeholder: () => '?',
  search: {
    query: ftsQuery,
    condition: (query) => `id IN (SELECT rowid FROM task_search WHERE task_search MATCH ${query})`,
    from: 'task_search JOIN task_list ON task_list.id = task_search.rowid',
    match: (query) => `task_search MATCH ${query}`,
    key: 'task_search.rowid',
  },
  idIn: (list) => `id IN (SELECT value FROM json_each(${list}))`,
  // A top-level field of the JSON text; booleans are written as JSON writes them, not as 1 and 0.
  metadataEquals: (key, value) =>
    `EXISTS (SELECT 1 FROM json_each(task_list.metadata) AS field WHERE field.key = ${key}
      AND field.type IN ('text', 'integer', 'real', 'true', 'false')
      AND (CASE field.type WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' ELSE CAST(field.value AS TEXT) END) = ${value})`,
};

/** Statements built for filters, by their SQL: the shapes of filter a server sees are few. */
const MAX_CACHED = 500;
const cached = preparedPer((_db: SqliteDb) => new Map<string, Database.Statement>());

/** The statement of `text`, compiled once per connection. */
export function prepare(db: SqliteDb, text: string): Database.Statement {
  const cache = cached(db);
  let statement = cache.get(text);
  if (!statement) {
    if (cache.size >= MAX_CACHED) cache.clear();
    statement = db.$client.prepare(text);
    cache.set(text, statement);
  }
  return statement;
}

const statements = preparedPer((db: SqliteDb) => ({
  byIds: db
    .select()
    .from(taskList)
    .where(sql`${taskList.id} IN (SELECT value FROM json_each(${sql.placeholder('ids')}))`)
    .prepare(),
}));

/** The walks of a page as SQL and parameters, for each status walked: what `candidates` runs (its plans are checked in tests). */
export function walkQueries(match: NormalMatch, sort: TaskSort, after: KeyValues | undefined, limit: number): { sql: string; params: unknown[] }[] {
  return walksOf(match.statuses, sort, match.words !== undefined).map((status) => {
    const params = new Params(sqliteDialect);
    const text = walkSql(sqliteDialect, params, { match, sort, status, after, limit });
    return { sql: text, params: params.values };
  });
}

/** The first `take` rows matching `match` in `sort` after `after`, each with its sort columns and size. */
export function candidates(db: SqliteDb, match: NormalMatch, sort: TaskSort, after: KeyValues | undefined, take: number): Candidate[] {
  const walks = walkQueries(match, sort, after, take).map(({ sql: text, params }) => prepare(db, text).all(...params) as Candidate[]);
  return mergeWalks(walks, sort, take);
}

export function listTaskPage(db: SqliteDb, filter: TaskFilter): TaskPage {
  const { match, sort, limit, after } = normalizeFilter(filter);
  // One more than the page: whether any row follows it.
  const { page, more } = cutPage(candidates(db, match, sort, after, limit + 1), limit);
  const ids = page.map((row) => row.id);
  const items = ids.length ? inOrderOf(ids, statements(db).byIds.all({ ids: JSON.stringify(ids) })) : [];
  return { items, next_cursor: nextCursor(page.at(-1), sort, more) };
}
