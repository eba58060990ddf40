/**
 * The task list's pages, filters and sorts, and the selection of bulk actions: the rules that do
 * not depend on an engine. Each engine turns a normalised filter into its SQL (see
 * ../task-query.ts); what a cursor holds, how the rows of several index walks are merged into one
 * page, where a page stops and which tasks a bulk action may take are decided here, once.
 */
import { ValidationError, type Problem } from '../errors.js';
import type { TaskFilter, TaskMatch, TaskSelection } from '../store.js';
import { TASK_STATUSES, type Task, type TaskStatus } from '../types.js';
import { MAX_LIST_BYTES } from './limits.js';
import { searchWords } from './search.js';

/**
 * The orders of the task list: `newest` (the default) and `oldest` by creation, then id;
 * `priority` in the order workers claim pending tasks (priority, then run_at, then id); `run_at`
 * by when tasks become claimable, then id.
 */
export const TASK_SORTS = ['newest', 'oldest', 'priority', 'run_at'] as const;
export type TaskSort = (typeof TASK_SORTS)[number];

/** The columns a sort orders by, the id last so that the order is total, and their direction. */
export type SortColumn = 'created_at' | 'priority' | 'run_at' | 'id';
export interface SortKey {
  columns: readonly SortColumn[];
  descending: boolean;
}

export const SORT_KEYS: Record<TaskSort, SortKey> = {
  newest: { columns: ['created_at', 'id'], descending: true },
  oldest: { columns: ['created_at', 'id'], descending: false },
  priority: { columns: ['priority', 'run_at', 'id'], descending: false },
  run_at: { columns: ['run_at', 'id'], descending: false },
};

/** A row's sort key values, in the order of its sort's columns. */
export type KeyValues = (string | number)[];

/** The most ids a bulk action takes, and the most tasks it changes in one call. */
export const MAX_BULK_TASKS = 1000;

/**
 * A filter as the engines apply it: statuses as a list (absent: any), times as ISO 8601 UTC
 * text with milliseconds (how they are stored, so that text order is time order).
 */
export interface NormalMatch extends Omit<TaskMatch, 'status'> {
  statuses?: TaskStatus[] | undefined;
  /** Only these tasks (a bulk action by ids). */
  ids?: number[] | undefined;
  /** The words of `q` (see searchWords). */
  words?: string[] | undefined;
}

const TIME_FIELDS = [
  'created_after',
  'created_before',
  'updated_after',
  'updated_before',
  'finished_after',
  'finished_before',
  'run_at_after',
  'run_at_before',
] as const;

/** The fields of a filter that are conditions (all of TaskMatch). */
const CONDITION_FIELDS = [
  'task_type_id',
  'task_type',
  'status',
  'priority_min',
  'priority_max',
  ...TIME_FIELDS,
  'worker_id',
  'idempotency_key',
  'metadata_key',
  'metadata_value',
  'q',
] as const satisfies readonly (keyof TaskMatch)[];

/** A time as stored: ISO 8601 in UTC to the millisecond, or undefined when `text` is not a time. */
function storedTime(text: string): string | undefined {
  const time = Date.parse(text);
  if (Number.isNaN(time)) return undefined;
  const iso = new Date(time).toISOString();
  return /^\d{4}-/.test(iso) ? iso : undefined;
}

/**
 * Checks a filter and puts it in the form the engines apply (see NormalMatch). Problems are
 * reported under `at` (e.g. `['filter']` for a bulk action's): a time that is not ISO 8601, a
 * metadata key without a value or the other way round.
 */
export function normalizeMatch(match: TaskMatch, at: (string | number)[] = []): NormalMatch {
  const problems: Problem[] = [];
  const { status, q, ...rest } = match;
  const normal: NormalMatch = {};
  if (q !== undefined) {
    try {
      normal.words = searchWords(q, [...at, 'q']);
    } catch (error) {
      if (!(error instanceof ValidationError)) throw error;
      problems.push(...error.problems);
    }
  }
  for (const [field, value] of Object.entries(rest) as [keyof typeof rest, unknown][]) {
    if (value !== undefined) (normal as Record<string, unknown>)[field] = value;
  }
  if (status !== undefined) {
    const wanted = new Set(typeof status === 'string' ? [status] : status);
    for (const value of wanted) {
      if (!TASK_STATUSES.includes(value)) problems.push({ path: [...at, 'status'], message: `is not a status: ${String(value)}`, type: 'enum' });
    }
    normal.statuses = TASK_STATUSES.filter((value) => wanted.has(value));
  }
  for (const field of TIME_FIELDS) {
    const value = match[field];
    if (value === undefined) continue;
    const stored = storedTime(value);
    if (stored === undefined) problems.push({ path: [...at, field], message: 'must be an ISO 8601 time', type: 'datetime' });
    else normal[field] = stored;
  }
  if ((match.metadata_key === undefined) !== (match.metadata_value === undefined)) {
    const missing = match.metadata_key === undefined ? 'metadata_key' : 'metadata_value';
    problems.push({ path: [...at, missing], message: 'give metadata_key and metadata_value together', type: 'missing' });
  }
  if (problems.length) throw new ValidationError(problems);
  return normal;
}

/** Whether a filter has at least one condition. */
export const hasConditions = (match: TaskMatch): boolean => CONDITION_FIELDS.some((field) => match[field] !== undefined);

/**
 * The index walks that make up one page: one per status when the filter names statuses, each
 * through the index that leads with the status and goes on in the sort's order, merged by
 * mergeWalks; or, when it names none, one walk over any status for the sorts whose indexes do not
 * start with the status (newest and oldest), and one per status for the others (priority and
 * run_at, whose indexes do). A search is one walk, of its own index in id order, whatever the
 * statuses. `undefined` stands for a walk over any status.
 */
export function walksOf(statuses: readonly TaskStatus[] | undefined, sort: TaskSort, search = false): (TaskStatus | undefined)[] {
  if (search) return [undefined];
  if (statuses !== undefined) return [...statuses];
  return sort === 'newest' || sort === 'oldest' ? [undefined] : [...TASK_STATUSES];
}

/** A row of a walk: its id, its sort columns and its stored size (see limits.ts). */
export interface Candidate {
  id: number;
  created_at: string;
  priority: number;
  run_at: string;
  bytes: number;
}

export const keyValuesOf = (row: Pick<Candidate, SortColumn>, sort: TaskSort): KeyValues => SORT_KEYS[sort].columns.map((column) => row[column]);

const compareValues = (a: string | number, b: string | number): number => (a < b ? -1 : a > b ? 1 : 0);

/** Compares two rows in a sort's order, as the engines order them (times and text byte by byte). */
export function compareIn(sort: TaskSort): (a: Pick<Candidate, SortColumn>, b: Pick<Candidate, SortColumn>) => number {
  const { columns, descending } = SORT_KEYS[sort];
  return (a, b) => {
    for (const column of columns) {
      const order = compareValues(a[column], b[column]);
      if (order !== 0) return descending ? -order : order;
    }
    return 0;
  };
}

/** The rows of several walks, each in the sort's order, as one list in that order, at most `take` of them. */
export function mergeWalks<T extends Pick<Candidate, SortColumn>>(walks: readonly (readonly T[])[], sort: TaskSort, take: number): T[] {
  if (walks.length === 1) return walks[0]!.slice(0, take);
  return walks.flat().sort(compareIn(sort)).slice(0, take);
}

/**
 * Where a page stops, given the rows that could be on it, in order (up to one more than `limit`):
 * at `limit` rows, or before the row that would take it past MAX_LIST_BYTES (it always holds the
 * first). `more`: rows are left after it, so that a next page may hold some.
 */
export function cutPage<T extends Pick<Candidate, 'bytes'>>(candidates: readonly T[], limit: number): { page: T[]; more: boolean } {
  const page: T[] = [];
  let total = 0;
  for (const row of candidates) {
    total += row.bytes;
    if (page.length === limit || (total > MAX_LIST_BYTES && page.length > 0)) break;
    page.push(row);
  }
  return { page, more: candidates.length > page.length };
}

// ---------------------------------------------------------------------------------------------
// Cursors

interface CursorBody {
  /** The sort. */
  s: TaskSort;
  /** The sort key values of the last task of the page, its id last. */
  k: KeyValues;
}

const CURSOR_FORMAT: Record<SortColumn, (value: unknown) => boolean> = {
  created_at: (value) => typeof value === 'string' && storedTime(value) === value,
  run_at: (value) => typeof value === 'string' && storedTime(value) === value,
  priority: (value) => Number.isInteger(value),
  id: (value) => Number.isSafeInteger(value) && (value as number) > 0,
};

/** The cursor of the page after the task with these sort key values: opaque text, safe in a URL. */
export function encodeCursor(sort: TaskSort, key: KeyValues): string {
  const body: CursorBody = { s: sort, k: key };
  return Buffer.from(JSON.stringify(body)).toString('base64url');
}

const badCursor = (message: string) => new ValidationError([{ path: ['cursor'], message, type: 'value_error' }]);

/**
 * The sort key values a cursor holds, for a page in `sort`. A ValidationError (at `cursor`) for
 * text that no page gave, and for a cursor of a page in another sort: its position means
 * nothing in this one.
 */
export function decodeCursor(cursor: string, sort: TaskSort): KeyValues {
  let body: Partial<CursorBody> | undefined;
  try {
    if (/^[A-Za-z0-9_-]+$/.test(cursor)) body = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as Partial<CursorBody>;
  } catch {
    body = undefined;
  }
  const columns = typeof body?.s === 'string' && (TASK_SORTS as readonly string[]).includes(body.s) ? SORT_KEYS[body.s].columns : undefined;
  const key = body?.k;
  if (!columns || !Array.isArray(key) || key.length !== columns.length || !columns.every((column, i) => CURSOR_FORMAT[column](key[i]))) {
    throw badCursor('is not a cursor of this list: pass next_cursor as a page gave it');
  }
  if (body!.s !== sort) throw badCursor(`is a cursor of the sort '${body!.s}', not of '${sort}': keep the sort while paging`);
  return key;
}

/** A list request checked and normalised: its filter, its sort, and where its page starts (after `after`). */
export interface NormalFilter {
  match: NormalMatch;
  sort: TaskSort;
  limit: number;
  after: KeyValues | undefined;
}

export function normalizeFilter(filter: TaskFilter): NormalFilter {
  const { limit, sort = 'newest', cursor, ...match } = filter;
  if (!(TASK_SORTS as readonly string[]).includes(sort)) {
    throw new ValidationError([{ path: ['sort'], message: `must be one of: ${TASK_SORTS.join(', ')}`, type: 'enum' }]);
  }
  const normal = normalizeMatch(match);
  if (normal.words !== undefined && sort !== 'newest' && sort !== 'oldest') {
    throw new ValidationError([{ path: ['sort'], message: 'must be newest or oldest with q: a search comes in id order', type: 'enum' }]);
  }
  if (cursor === undefined) return { match: normal, sort, limit, after: undefined };
  // A search walks its index in id order: only the cursor's id places it (see searchWalkSql).
  if (normal.words !== undefined) return { match: normal, sort, limit, after: decodeCursor(cursor, sort) };
  return { ...foldStart(normal, sort, decodeCursor(cursor, sort)), sort, limit };
}

/**
 * The filter's bound on where a sort starts (`created_before` for newest, `created_after` for
 * oldest, `priority_min` for priority, `run_at_after` for run_at), folded into the cursor's key:
 * the walk then has one bound on that column, a key, rather than two, which SQLite's planner
 * does not combine well (it may stop walking the index in order). The bound is the same as a key:
 * `created_at >= a` is `(created_at, id) > (a, 0)`, ids being positive (and run_at, which the
 * priority key holds next, never empty).
 */
function foldStart(match: NormalMatch, sort: TaskSort, after: KeyValues): { match: NormalMatch; after: KeyValues } {
  const field = ({ newest: 'created_before', oldest: 'created_after', priority: 'priority_min', run_at: 'run_at_after' } as const)[sort];
  const bound = match[field];
  if (bound === undefined) return { match, after };
  const boundKey: KeyValues = sort === 'priority' ? [bound, '', 0] : [bound, 0];
  const { descending } = SORT_KEYS[sort];
  let order = 0;
  for (let i = 0; i < after.length && order === 0; i++) order = compareValues(boundKey[i]!, after[i]!);
  const { [field]: _folded, ...rest } = match;
  // The key further along in the sort's direction is the start.
  return { match: rest, after: (descending ? order < 0 : order > 0) ? boundKey : after };
}

/** The cursor of the page after `last`, when `more` rows may follow it, else null. */
export const nextCursor = (last: Pick<Candidate, SortColumn> | undefined, sort: TaskSort, more: boolean): string | null =>
  more && last ? encodeCursor(sort, keyValuesOf(last, sort)) : null;

/** Orders tasks read by id as their ids are ordered in `ids`, dropping any not read. */
export function inOrderOf(ids: readonly number[], tasks: readonly Task[]): Task[] {
  const byId = new Map(tasks.map((task) => [task.id, task]));
  return ids.flatMap((id) => byId.get(id) ?? []);
}

// ---------------------------------------------------------------------------------------------
// Bulk actions

/** A bulk action's selection checked and normalised: the tasks it may change, at most `limit` of them. */
export interface NormalSelection {
  match: NormalMatch;
  limit: number;
  /** Statuses that the action and the filter both allow is none: nothing can change. */
  empty: boolean;
}

/**
 * Checks a bulk action's selection: ids (at most MAX_BULK_TASKS) or a filter with at least one
 * condition, or both (then the tasks of those ids that match it), so that no call takes every
 * task by accident. The statuses are narrowed to those the action may change (`from`).
 */
export function normalizeSelection(selection: TaskSelection, from: readonly TaskStatus[] | undefined): NormalSelection {
  const { ids, filter = {}, limit } = selection;
  if (ids === undefined && !hasConditions(filter)) {
    throw new ValidationError([{ path: ['filter'], message: 'give ids, or a filter with at least one condition', type: 'missing' }]);
  }
  if (ids !== undefined && (ids.length === 0 || ids.length > MAX_BULK_TASKS)) {
    throw new ValidationError([{ path: ['ids'], message: `must hold 1 to ${MAX_BULK_TASKS} ids`, type: 'too_big' }]);
  }
  const match = normalizeMatch(filter, ['filter']);
  if (ids !== undefined) match.ids = [...new Set(ids)];
  const allowed = from === undefined ? match.statuses : (match.statuses ?? TASK_STATUSES).filter((status) => from.includes(status));
  if (allowed !== undefined) match.statuses = [...allowed];
  return { match, limit: Math.min(limit, MAX_BULK_TASKS), empty: allowed !== undefined && allowed.length === 0 };
}
