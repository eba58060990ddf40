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
import { checksRows, frontierSql, Params, walkSql, type Dialect } from '../task-query.js';
import type { TaskStatus } from '../types.js';
import type { SqliteDb } from './database.js';
import { preparedPer } from './util.js';
import type { Turns } from '../turns.js';

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

/**
 * Index entries one step of a walk examines at most (see frontierSql): better-sqlite3 reads
 * synchronously, so a walk that passes over many rows its filter does not match (a rare worker,
 * metadata value or time range among millions of tasks) goes in steps, and hands the event loop
 * back between them. A step reads at most this many rows, each checked against the filter: about
 * a millisecond when they come in the table's order, up to about 15 when they do not (a priority
 * walk), on the machine of the README's measurements.
 */
export const WALK_STEP = 2_000;

/**
 * Walks that take more than one step at once, per store: the others wait for their turn, in the
 * order they came (see WalkReads.longWalks). Steps of walks going on at once interleave, a step
 * each per turn of the event loop; without a bound, many long walks at once would make every
 * turn that long.
 */
export const MAX_LONG_WALKS = 2;

/** How a walk reads: the store's read (a storage failure as StorageError), its step, and the turns of long walks. */
export interface WalkReads {
  read<T>(work: () => T): T;
  step?: number;
  longWalks?: Turns;
}

/** The walks of a page as SQL and parameters, for each status walked: what `candidates` runs (its plans are checked in tests). */
export function walkQueries(match: NormalMatch, sort: TaskSort, after: KeyValues | undefined, limit: number, until?: KeyValues): { sql: string; params: unknown[] }[] {
  return walksOf(match.statuses, sort, match.words !== undefined).map((status) => {
    const params = new Params(sqliteDialect);
    const text = walkSql(sqliteDialect, params, { match, sort, status, after, until, limit });
    return { sql: text, params: params.values };
  });
}

/**
 * Where the next step of a walk ends (see frontierSql), as SQL and parameters; its plan is checked
 * in tests. A search's steps go along the search index in id order: a step ends at the id of the
 * `step`th task the search finds, as a key of that id alone (only the id places a search walk).
 */
export function frontierQuery(match: NormalMatch, sort: TaskSort, status: TaskStatus | undefined, after: KeyValues | undefined, step: number): { sql: string; params: unknown[] } {
  const params = new Params(sqliteDialect);
  if (match.words === undefined) return { sql: frontierSql(sqliteDialect, params, { match, sort, status, after }, step), params: params.values };
  const descending = sort === 'newest';
  const where = [`task_search MATCH ${params.add(ftsQuery(match.words))}`];
  if (after !== undefined) where.push(`rowid ${descending ? '<' : '>'} ${params.add(after.at(-1))}`);
  const text = `SELECT rowid FROM task_search WHERE ${where.join(' AND ')} ORDER BY rowid${descending ? ' DESC' : ''} LIMIT 1 OFFSET ${params.add(step - 1)}`;
  return { sql: text, params: params.values };
}

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * The first `take` rows of one walk, in steps of at most `step` index entries when the walk
 * checks conditions its index does not bound, the event loop handed back between steps. Each
 * step reads at once; a change committed between two steps is seen by the later one, as by the
 * next page. After its first step, a walk goes on in its turn among the long walks (WalkReads.longWalks).
 */
async function walkInSteps(db: SqliteDb, match: NormalMatch, sort: TaskSort, status: TaskStatus | undefined, after: KeyValues | undefined, take: number, reads: WalkReads): Promise<Candidate[]> {
  const stepped = checksRows(match, sort, status);
  const step = reads.step ?? WALK_STEP;
  const rows: Candidate[] = [];
  let position = after;
  let leave: (() => void) | undefined;
  try {
    for (;;) {
      const until = stepped
        ? reads.read(() => {
            const { sql: text, params } = frontierQuery(match, sort, status, position, step);
            return prepare(db, text).raw().get(...params) as KeyValues | undefined;
          })
        : undefined;
      const found = reads.read(() => {
        const params = new Params(sqliteDialect);
        const text = walkSql(sqliteDialect, params, { match, sort, status, after: position, until, limit: take - rows.length });
        return prepare(db, text).all(...params.values) as Candidate[];
      });
      rows.push(...found);
      if (rows.length >= take || until === undefined) return rows;
      position = until;
      // A long walk: the next step waits for its turn among the long walks (the first step never does).
      if (!leave && reads.longWalks) leave = await reads.longWalks.enter();
      await nextTurn();
    }
  } finally {
    leave?.();
  }
}

/** The first `take` rows matching `match` in `sort` after `after`, each with its sort columns and size. */
export async function candidates(db: SqliteDb, match: NormalMatch, sort: TaskSort, after: KeyValues | undefined, take: number, reads: WalkReads): Promise<Candidate[]> {
  const walks = await Promise.all(walksOf(match.statuses, sort, match.words !== undefined).map((status) => walkInSteps(db, match, sort, status, after, take, reads)));
  return mergeWalks(walks, sort, take);
}

export async function listTaskPage(db: SqliteDb, filter: TaskFilter, reads: WalkReads): Promise<TaskPage> {
  const { match, sort, limit, after } = normalizeFilter(filter);
  // One more than the page: whether any row follows it.
  const { page, more } = cutPage(await candidates(db, match, sort, after, limit + 1, reads), limit);
  const ids = page.map((row) => row.id);
  const items = ids.length ? reads.read(() => inOrderOf(ids, statements(db).byIds.all({ ids: JSON.stringify(ids) }))) : [];
  return { items, next_cursor: nextCursor(page.at(-1), sort, more) };
}
