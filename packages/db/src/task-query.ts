/**
 * The SQL of the task list's walks and of the selection of bulk actions, the same text for every
 * engine but for what each writes its own way (placeholders, a list of ids, a metadata field):
 * see Dialect. The rules (which walks, how they merge, where a page stops) are in
 * ./rules/pages.ts.
 *
 * Indexes: each walk reads one index in its sort's order: task_list_created_idx (no filter),
 * task_list_type_created_idx (a type), task_list_status_created_idx and
 * task_list_type_status_created_idx (a status, with or without a type) for newest and oldest;
 * task_list_status_priority_idx for priority (task_list_pending_type_idx for a type's pending
 * tasks); task_list_status_run_at_idx for run_at. Every other condition (a priority or time
 * range, a worker, an idempotency key without its type, a metadata field, and a type under the
 * priority and run_at sorts) is checked on the rows met along that walk: the walk stops as soon
 * as a page is full, so such a filter costs in proportion to how many rows it passes over, and a
 * rare match in a large table can take a long walk. That trade is deliberate: an index for each
 * would slow every write (see schema-indexes.ts).
 */
import { SORT_KEYS, type KeyValues, type NormalMatch, type TaskSort } from './rules/pages.js';
import type { TaskStatus } from './types.js';

/** What an engine writes its own way. */
export interface Dialect {
  /** The placeholder of the `n`th parameter (from 1). */
  placeholder(n: number): string;
  /** True when the row's id is one of those of a JSON array, given as the parameter `list`. */
  idIn(list: string): string;
  /**
   * True when the row's metadata has the field `key` holding a string, number or boolean whose
   * text equals `value` (both placeholders).
   */
  metadataEquals(key: string, value: string): string;
  /**
   * What follows `FROM task_list` to make a walk read the index named (see walkIndex): SQLite's
   * `INDEXED BY`, as its planner would otherwise sometimes read an index of a filter and sort
   * what it found; nothing where the planner is left to choose.
   */
  indexHint(index: string): string;
  /**
   * A column in a condition that must not choose how a walk reads its index: SQLite's `+column`,
   * without which its planner may skip-scan the index for a range on a later column and sort the
   * rows, instead of walking it in order; the column itself where the planner is left to choose.
   */
  unindexed(column: string): string;
  /** Search (`q`, see rules/search.ts): how the engine's full-text index is asked. */
  search: {
    /** The query text, given the words. */
    query(words: readonly string[]): string;
    /** True when the task is among those the query (a placeholder) finds: a condition on task_list. */
    condition(query: string): string;
    /**
     * A walk of the search index in id order: what it reads FROM, its condition on the query (a
     * placeholder), and the column that holds the task's id in that index's order.
     */
    from: string;
    match(query: string): string;
    key: string;
  };
}

/** A row's size as stored, from the lengths of its JSON and text, which both engines know without reading them. */
export const ROW_BYTES = `octet_length(parameters) + octet_length(metadata) + coalesce(octet_length(result), 0) + coalesce(octet_length(error_message), 0)
  + coalesce(octet_length(idempotency_key), 0) + coalesce(octet_length(worker_id), 0) + 400`;

/** A status as SQL text: one of TASK_STATUSES, written in the SQL so that partial indexes on a status apply. */
const statusLiteral = (status: TaskStatus): string => `'${status.replace(/'/g, "''")}'`;

/** Collects a statement's parameters and writes their placeholders. */
export class Params {
  readonly values: unknown[] = [];
  constructor(private readonly dialect: Dialect) {}
  add(value: unknown): string {
    this.values.push(value);
    return this.dialect.placeholder(this.values.length);
  }
}

/**
 * The conditions of a filter, each a SQL expression on task_list; statuses only with
 * `withStatuses`. `indexed`: the columns whose conditions may bound the walk of the index (its
 * sort column); the others are checked on each row met (see Dialect.unindexed). The type always
 * may: it leads the indexes of a type.
 */
export function conditionsOf(
  match: NormalMatch,
  params: Params,
  dialect: Dialect,
  withStatuses: boolean,
  indexed?: string,
  searchWalk = false,
): string[] {
  const where: string[] = [];
  const p = (value: unknown) => params.add(value);
  const column = (name: string) => (indexed === undefined || name === indexed ? name : dialect.unindexed(name));
  if (match.ids !== undefined) where.push(dialect.idIn(p(JSON.stringify(match.ids))));
  if (withStatuses && match.statuses !== undefined) {
    where.push(match.statuses.length ? `status IN (${match.statuses.map(statusLiteral).join(', ')})` : 'FALSE');
  }
  if (match.task_type_id !== undefined) where.push(`task_type_id = ${p(match.task_type_id)}`);
  if (match.task_type !== undefined) where.push(`task_type_id = (SELECT id FROM task_types WHERE name = ${p(match.task_type)})`);
  if (match.priority_min !== undefined) where.push(`${column('priority')} >= ${p(match.priority_min)}`);
  if (match.priority_max !== undefined) where.push(`${column('priority')} <= ${p(match.priority_max)}`);
  const ranges = [
    ['created', 'created_at'],
    ['updated', 'updated_at'],
    ['finished', 'completed_at'],
    ['run_at', 'run_at'],
  ] as const;
  for (const [field, name] of ranges) {
    const after = match[`${field}_after`];
    const before = match[`${field}_before`];
    if (after !== undefined) where.push(`${column(name)} >= ${p(after)}`);
    if (before !== undefined) where.push(`${column(name)} < ${p(before)}`);
  }
  if (match.worker_id !== undefined) where.push(`${column('worker_id')} = ${p(match.worker_id)}`);
  // Bare: with a type, it names one task through the unique index (see walkIndex).
  if (match.idempotency_key !== undefined) where.push(`idempotency_key = ${p(match.idempotency_key)}`);
  if (match.metadata_key !== undefined && match.metadata_value !== undefined) {
    where.push(dialect.metadataEquals(p(match.metadata_key), p(match.metadata_value)));
  }
  // A search walk asks the search index itself (see searchWalkSql).
  if (match.words !== undefined && !searchWalk) where.push(dialect.search.condition(p(dialect.search.query(match.words))));
  return where;
}

/**
 * The index a walk reads: the one that leads with the walk's equalities (type, status) and goes
 * on in its sort's order, so that the walk stops once it has `limit` rows. A type and an
 * idempotency key name one task at most: it is found through their unique index.
 */
export function walkIndex(match: NormalMatch, sort: TaskSort, status: TaskStatus | undefined): { index: string; ordered: boolean } {
  const typed = match.task_type_id !== undefined || match.task_type !== undefined;
  if (typed && match.idempotency_key !== undefined) return { index: 'task_list_idempotency_idx', ordered: false };
  switch (sort) {
    case 'newest':
    case 'oldest':
      if (typed) return { index: status ? 'task_list_type_status_created_idx' : 'task_list_type_created_idx', ordered: true };
      return { index: status ? 'task_list_status_created_idx' : 'task_list_created_idx', ordered: true };
    case 'priority':
      return { index: typed && status === 'pending' ? 'task_list_pending_type_idx' : 'task_list_status_priority_idx', ordered: true };
    case 'run_at':
      return { index: 'task_list_status_run_at_idx', ordered: true };
  }
}

/** `ORDER BY` of a sort, without the keywords. */
export const orderOf = (sort: TaskSort): string => {
  const { columns, descending } = SORT_KEYS[sort];
  return columns.map((column) => `${column}${descending ? ' DESC' : ''}`).join(', ');
};

/**
 * One walk of a page: the rows of one status (or any, for undefined) matching the filter, in the
 * sort's order after the key `after`, at most `limit`: each row's id, sort columns and stored
 * size, read before any row is read whole.
 */
export function walkSql(
  dialect: Dialect,
  params: Params,
  walk: { match: NormalMatch; sort: TaskSort; status: TaskStatus | undefined; after: KeyValues | undefined; limit: number },
): string {
  if (walk.match.words !== undefined) return searchWalkSql(dialect, params, walk);
  const { columns, descending } = SORT_KEYS[walk.sort];
  const where = conditionsOf(walk.match, params, dialect, false, columns[0]);
  if (walk.status !== undefined) where.unshift(`status = ${statusLiteral(walk.status)}`);
  if (walk.after !== undefined) {
    where.push(`(${columns.join(', ')}) ${descending ? '<' : '>'} (${walk.after.map((value) => params.add(value)).join(', ')})`);
  }
  const { index, ordered } = walkIndex(walk.match, walk.sort, walk.status);
  // At most one row when not ordered by its index: nothing to sort.
  return `SELECT id, created_at, priority, run_at, ${ROW_BYTES} AS bytes FROM task_list${dialect.indexHint(index)}${where.length ? ` WHERE ${where.join(' AND ')}` : ''}
    ${ordered ? `ORDER BY ${orderOf(walk.sort)} ` : ''}LIMIT ${params.add(walk.limit)}`;
}

/**
 * The walk of a search: the tasks the search index finds, in id order (the highest first for
 * `newest`), after the cursor's id, that match the rest of the filter, statuses included, checked
 * on each one found. Driven by the search index, so that a word found in a few tasks of millions
 * is answered at once, and one found in most of them reads only a page of them.
 */
function searchWalkSql(
  dialect: Dialect,
  params: Params,
  walk: { match: NormalMatch; sort: TaskSort; after: KeyValues | undefined; limit: number },
): string {
  const { descending } = SORT_KEYS[walk.sort];
  const { search } = dialect;
  const where = [search.match(params.add(search.query(walk.match.words!))), ...conditionsOf(walk.match, params, dialect, true, 'id', true)];
  if (walk.after !== undefined) where.push(`${search.key} ${descending ? '<' : '>'} ${params.add(walk.after.at(-1))}`);
  return `SELECT id, created_at, priority, run_at, ${ROW_BYTES} AS bytes FROM ${search.from} WHERE ${where.join(' AND ')}
    ORDER BY ${search.key}${descending ? ' DESC' : ''} LIMIT ${params.add(walk.limit)}`;
}

/**
 * The tasks a bulk action may take when its selection names ids: those of the ids (through the
 * primary key) that match the rest of the filter and are in a status the action allows, at most
 * `limit`, in id order.
 */
export function selectedIdsSql(dialect: Dialect, params: Params, match: NormalMatch, limit: number): string {
  const where = conditionsOf(match, params, dialect, true);
  return `SELECT id FROM task_list WHERE ${where.join(' AND ')} ORDER BY id LIMIT ${params.add(limit)}`;
}
