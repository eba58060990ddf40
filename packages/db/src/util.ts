import type { ApiToken, Task, TaskType } from './types.js';

/** Drops keys whose value is undefined, so a partial update leaves those columns alone. */
export function withoutUndefined<T extends object>(patch: T): Partial<T> {
  return Object.fromEntries(Object.entries(patch).filter(([, value]) => value !== undefined)) as Partial<T>;
}

/**
 * A JSON value as the text a JSON column keeps (see schema.ts and postgres/schema.ts); SQL NULL
 * for undefined and null.
 */
export const json = (value: unknown): string | null => (value === undefined || value === null ? null : JSON.stringify(value));

/** Rows as read, their JSON columns still text (on every engine), as domain records. */
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
