/**
 * The task list's pages on PostgreSQL (see TaskRecordStore.listTaskPage), in one statement: one
 * index walk per status (see rules/pages.ts walksOf and ../task-query.ts), merged in the sort's
 * order; the page is chosen by each row's size before any row is read whole, and stops before
 * the row that would pass MAX_LIST_BYTES (it always holds the first), as on SQLite.
 */
import { MAX_LIST_BYTES, nextCursor, normalizeFilter, SORT_KEYS, tsQuery, walksOf, type NormalMatch, type TaskSort } from '../rules/index.js';
import type { TaskFilter, TaskPage } from '../store.js';
import { Params, orderOf, walkSql, type Dialect } from '../task-query.js';
import type { Task } from '../types.js';
import type { Queryable } from './client.js';
import { unstorable } from './storage.js';
import { toTask } from './util.js';

export const postgresDialect: Dialect = {
  // The planner chooses; the plans are checked in ./tasks.test.ts.
  indexHint: () => '',
  unindexed: (column) => column,
  placeholder: (n) => `$${n}`,
  search: {
    query: tsQuery,
    condition: (query) => `id IN (SELECT task_id FROM task_search WHERE doc @@ to_tsquery('simple', ${query}))`,
    from: 'task_list',
    match: (query) => `id IN (SELECT task_id FROM task_search WHERE doc @@ to_tsquery('simple', ${query}))`,
    key: 'id',
  },
  idIn: (list) => `id IN (SELECT value::bigint FROM json_array_elements_text(${list}::text::json))`,
  // A top-level field of the JSON text, read as json (not jsonb: a number keeps the digits it was given).
  metadataEquals: (key, value) =>
    `(json_typeof(metadata::json -> ${key}::text) IN ('string', 'number', 'boolean') AND metadata::json ->> ${key}::text = ${value})`,
};

/** Whether a filter compares with text that PostgreSQL cannot store (a NUL): then no task matches it. */
export const matchesNothing = (match: NormalMatch): boolean =>
  [match.task_type, match.worker_id, match.idempotency_key, match.metadata_key, match.metadata_value].some(
    (value) => value !== undefined && unstorable(value),
  );

/**
 * The statement of a page (its plan is checked in ./tasks.test.ts), with its sort; undefined when
 * no task can match.
 */
export function pageQuery(filter: TaskFilter): { text: string; params: unknown[]; sort: TaskSort } | undefined {
  const { match, sort, limit, after } = normalizeFilter(filter);
  const params = new Params(postgresDialect);
  // One more than the page: whether any row follows it.
  const search = match.words !== undefined;
  const walks = walksOf(match.statuses, sort, search).map((status) => walkSql(postgresDialect, params, { match, sort, status, after, limit: limit + 1 }));
  if (walks.length === 0 || matchesNothing(match)) return undefined;
  // A search comes in id order (see searchWalkSql).
  const order = search ? `id${SORT_KEYS[sort].descending ? ' DESC' : ''}` : orderOf(sort);
  const text = `WITH candidates AS (
       SELECT * FROM (${walks.map((walk) => `(${walk})`).join(' UNION ALL ')}) AS walks ORDER BY ${order} LIMIT ${params.add(limit + 1)}
     ), sized AS (
       SELECT id, row_number() OVER page AS n, sum(bytes) OVER page AS total, count(*) OVER () AS found
         FROM candidates WINDOW page AS (ORDER BY ${order} ROWS UNBOUNDED PRECEDING)
     )
     SELECT t.*, sized.found FROM sized JOIN task_list t ON t.id = sized.id
      WHERE sized.n <= ${params.add(limit)} AND (sized.n = 1 OR sized.total <= ${params.add(MAX_LIST_BYTES)})
      ORDER BY sized.n`;
  return { text, params: params.values, sort };
}

export async function listTaskPage(db: Queryable, filter: TaskFilter): Promise<TaskPage> {
  const query = pageQuery(filter);
  if (!query) return { items: [], next_cursor: null };
  const rows = await db.query<Task & { found: number }>(query.text, query.params);
  const found = rows[0]?.found ?? 0;
  const items = rows.map(({ found: _found, ...task }) => toTask(task));
  return { items, next_cursor: nextCursor(items.at(-1), query.sort, found > items.length) };
}
