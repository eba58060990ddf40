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
 * would slow every write (see schema-indexes.ts). Such a walk can go in steps of a bounded number
 * of index entries (checksRows, frontierSql, and walkSql's `until`), which SQLite's store takes
 * so as to hand the event loop back between them (sqlite/pages.ts).
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

/**
 * Whether a walk checks conditions on the rows it meets that its index does not bound (see
 * walkIndex): then it may pass over many rows that do not match before it finds a page's worth,
 * and an engine that reads synchronously walks it in steps (see frontierSql).
 */
export function checksRows(match: NormalMatch, sort: TaskSort, status: TaskStatus | undefined): boolean {
  // A search walks the search index: every other condition is checked on the tasks it finds.
  if (match.words !== undefined) return Object.entries(match).some(([field, value]) => field !== 'words' && value !== undefined);
  const { index, ordered } = walkIndex(match, sort, status);
  if (!ordered) return false; // one task at most
  const first = SORT_KEYS[sort].columns[0];
  const typeLed = index.includes('_type_');
  return (
    match.ids !== undefined ||
    ((match.task_type_id !== undefined || match.task_type !== undefined) && !typeLed) ||
    (first !== 'priority' && (match.priority_min !== undefined || match.priority_max !== undefined)) ||
    (first !== 'created_at' && (match.created_after !== undefined || match.created_before !== undefined)) ||
    (first !== 'run_at' && (match.run_at_after !== undefined || match.run_at_before !== undefined)) ||
    match.updated_after !== undefined ||
    match.updated_before !== undefined ||
    match.finished_after !== undefined ||
    match.finished_before !== undefined ||
    match.worker_id !== undefined ||
    match.idempotency_key !== undefined ||
    match.metadata_key !== undefined
  );
}

/**
 * Where one step of a walk ends: the sort key of the `step`th entry of the walk's index after
 * `after`, within what the index bounds (the walk's status, its type when the index leads with
 * it, a range on the sort's first column), read from the index alone; no row when the walk ends
 * before. A walk bounded by it (walkSql's `until`) examines at most `step` entries, whatever its
 * other conditions match.
 */
export function frontierSql(
  dialect: Dialect,
  params: Params,
  walk: { match: NormalMatch; sort: TaskSort; status: TaskStatus | undefined; after: KeyValues | undefined },
  step: number,
): string {
  const { match, sort, status, after } = walk;
  const { columns, descending } = SORT_KEYS[sort];
  const { index } = walkIndex(match, sort, status);
  const bounds: string[] = [];
  if (status !== undefined) bounds.push(`status = ${statusLiteral(status)}`);
  if (index.includes('_type_')) {
    if (match.task_type_id !== undefined) bounds.push(`task_type_id = ${params.add(match.task_type_id)}`);
    if (match.task_type !== undefined) bounds.push(`task_type_id = (SELECT id FROM task_types WHERE name = ${params.add(match.task_type)})`);
  }
  const first = columns[0];
  const range = { priority: ['priority_min', 'priority_max'], created_at: ['created_after', 'created_before'], run_at: ['run_at_after', 'run_at_before'] } as const;
  const [low, high] = range[first as keyof typeof range];
  if (match[low] !== undefined) bounds.push(`${first} >= ${params.add(match[low])}`);
  if (match[high] !== undefined) bounds.push(`${first} ${first === 'priority' ? '<=' : '<'} ${params.add(match[high])}`);
  if (after !== undefined) bounds.push(`(${columns.join(', ')}) ${descending ? '<' : '>'} (${after.map((value) => params.add(value)).join(', ')})`);
  return `SELECT ${columns.join(', ')} FROM task_list${dialect.indexHint(index)}${bounds.length ? ` WHERE ${bounds.join(' AND ')}` : ''}
    ORDER BY ${orderOf(sort)} LIMIT 1 OFFSET ${params.add(step - 1)}`;
}

/** The filter's bound on a sort's first column at the far end of its walk (see walkSql's `until`). */
const FAR_END = { newest: 'created_after', oldest: 'created_before', priority: 'priority_max', run_at: 'run_at_before' } as const satisfies Record<TaskSort, keyof NormalMatch>;

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
  walk: { match: NormalMatch; sort: TaskSort; status: TaskStatus | undefined; after: KeyValues | undefined; until?: KeyValues | undefined; limit: number },
): string {
  if (walk.match.words !== undefined) return searchWalkSql(dialect, params, walk);
  const { columns, descending } = SORT_KEYS[walk.sort];
  // A step's end is within the filter's range on the sort's first column (see frontierSql): the
  // range's far end goes, so that the planners take the step's end as where the walk stops.
  const match = walk.until === undefined ? walk.match : { ...walk.match, [FAR_END[walk.sort]]: undefined };
  const where = conditionsOf(match, params, dialect, false, columns[0]);
  if (walk.status !== undefined) where.unshift(`status = ${statusLiteral(walk.status)}`);
  if (walk.after !== undefined) {
    where.push(`(${columns.join(', ')}) ${descending ? '<' : '>'} (${walk.after.map((value) => params.add(value)).join(', ')})`);
  }
  // One step of the walk (see frontierSql): up to the entry where it ends, that one included. The
  // first column alone bounds the walk; given as one row value, SQLite would skip-scan and sort.
  if (walk.until !== undefined) {
    const [first, ...rest] = walk.until;
    where.push(`${columns[0]} ${descending ? '>=' : '<='} ${params.add(first)}`);
    where.push(
      `NOT (${columns[0]} = ${params.add(first)} AND (${columns.slice(1).join(', ')}) ${descending ? '<' : '>'} (${rest.map((value) => params.add(value)).join(', ')}))`,
    );
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
  walk: { match: NormalMatch; sort: TaskSort; after: KeyValues | undefined; until?: KeyValues | undefined; limit: number },
): string {
  const { descending } = SORT_KEYS[walk.sort];
  const { search } = dialect;
  const where = [search.match(params.add(search.query(walk.match.words!))), ...conditionsOf(walk.match, params, dialect, true, 'id', true)];
  if (walk.after !== undefined) where.push(`${search.key} ${descending ? '<' : '>'} ${params.add(walk.after.at(-1))}`);
  // One step (see frontierSql): only the id places it, as the cursor's does.
  if (walk.until !== undefined) where.push(`${search.key} ${descending ? '>=' : '<='} ${params.add(walk.until.at(-1))}`);
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
