import { json } from '../util.js';

export { addSeconds, nowIso } from '../rules/time.js';
export { withoutUndefined } from '../util.js';

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
  'progress',
  'progress_message',
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

export { json, toTask, toTaskType, toToken } from '../util.js';
