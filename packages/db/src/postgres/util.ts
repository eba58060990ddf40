import type { ApiToken, Task, TaskType } from '../types.js';
export { addSeconds, nowIso } from '../rules/time.js';
export { withoutUndefined } from '../util.js';

/**
 * A JSON value as the text a JSON column keeps (see ./schema.ts); SQL NULL for undefined and
 * null, as SQLite stores them.
 */
export const json = (value: unknown): string | null => (value === undefined || value === null ? null : JSON.stringify(value));

/** The columns a partial update may set, and those of them that hold JSON. */
const SETTABLE = new Set([
  'description',
  'parameters_schema',
  'metadata',
  'is_active',
  'max_attempts',
  'retry_base_seconds',
  'retry_max_seconds',
  'updated_at',
  'status',
  'priority',
  'parameters',
  'result',
  'error_message',
  'started_at',
  'completed_at',
  'attempts',
  'run_at',
  'worker_id',
  'lease_id',
  'lease_expires_at',
]);
const JSON_COLUMNS = new Set(['parameters_schema', 'metadata', 'parameters', 'result']);

/**
 * `SET col = $n, …` for the fields given (each a column name), numbered from `first`, and their
 * parameters. Anything that is not a settable column is refused: names go into the SQL.
 */
export function setClause(fields: Record<string, unknown>, first: number): { set: string; params: unknown[] } {
  const params: unknown[] = [];
  const set = Object.entries(fields).map(([column, value]) => {
    if (!SETTABLE.has(column)) throw new Error(`Not a column a store may set: ${column}`);
    const isJson = JSON_COLUMNS.has(column);
    params.push(isJson ? json(value) : value);
    return `"${column}" = $${first + params.length - 1}`;
  });
  return { set: set.join(', '), params };
}

/** A list of values as one parameter, read back with `json_array_elements_text($n::text::json)`. */
export const list = (values: readonly unknown[] | undefined): string | null => (values === undefined ? null : JSON.stringify(values));

/** Rows as read, their JSON columns still text, as domain records. */
const parseColumns = <T>(row: object, columns: readonly string[]): T => {
  const record = row as Record<string, unknown>;
  for (const column of columns) {
    const value = record[column];
    if (typeof value === 'string') record[column] = JSON.parse(value);
  }
  return row as T;
};

export const toTask = (row: object): Task => parseColumns<Task>(row, ['parameters', 'metadata', 'result']);
export const toTaskType = (row: object): TaskType => parseColumns<TaskType>(row, ['parameters_schema', 'metadata']);
export const toToken = (row: object): ApiToken => parseColumns<ApiToken>(row, ['scopes']);
