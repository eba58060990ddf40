/**
 * The log of changes on SQLite (table task_events, see ../store.ts ChangeLog): a change's
 * position is its id, AUTOINCREMENT, so in commit order (one writer at a time) and never reused.
 */
import { ChangesExpiredError, ValidationError } from '../errors.js';
import { LOG_START } from '../changes.js';
import type { TaskChange } from '../types.js';
import type { SqliteDb } from './database.js';
import { preparedPer } from './util.js';

const POSITION = /^(0|[1-9][0-9]{0,18})$/;

/** The id a position names; ValidationError at `after` for text that is not one. */
export function positionOf(text: string): bigint {
  if (!POSITION.test(text)) {
    throw new ValidationError([{ path: ['after'], message: 'is not a position in the log of changes of this server', type: 'value_error' }]);
  }
  return BigInt(text);
}

export function compareChangeIds(a: string, b: string): number {
  const [x, y] = [positionOf(a), positionOf(b)];
  return x < y ? -1 : x > y ? 1 : 0;
}

const statements = preparedPer((db: SqliteDb) => ({
  head: db.$client.prepare<[], { id: number | null }>('SELECT max(id) AS id FROM task_events'),
  kept: db.$client.prepare<[bigint]>('SELECT 1 FROM task_events WHERE id = ?').pluck(),
  after: db.$client.prepare<[bigint, number], TaskChange & { id: number }>(
    `SELECT id, task_id, task_type_id, kind, at, status, attempt, worker_id, progress, message
       FROM task_events WHERE id > ? ORDER BY id LIMIT ?`,
  ),
  // The oldest changes, up to the first that is not older than the cut-off; never the newest.
  deleteBefore: db.$client.prepare<[number, string, number]>(
    `WITH batch AS (
       SELECT id, at, row_number() OVER (ORDER BY id) AS n FROM (SELECT id, at FROM task_events ORDER BY id LIMIT ? + 1)),
     stop AS (SELECT coalesce(min(n), (SELECT max(n) FROM batch)) AS n FROM batch WHERE at >= ?)
     DELETE FROM task_events WHERE id IN (SELECT id FROM batch WHERE n < (SELECT n FROM stop) AND n <= ?)`,
  ),
}));

/** The position of the newest change, or the start of an empty log. */
export function changesHead(db: SqliteDb): string {
  const { id } = statements(db).head.get()!;
  return id === null ? LOG_START.sqlite : String(id);
}

/** Up to `limit` changes after `after`, in order; see ChangeLog.readChanges. */
export function readChanges(db: SqliteDb, after: string, limit: number): TaskChange[] {
  const position = positionOf(after);
  const { kept, after: read } = statements(db);
  if (after !== LOG_START.sqlite && kept.get(position) === undefined) throw new ChangesExpiredError(after);
  return read.all(position, limit).map((row) => ({ ...row, id: String(row.id) }));
}

/** Deletes up to `limit` of the oldest changes written before `before`; see ChangeLog.deleteChangesBefore. */
export function deleteChangesBefore(db: SqliteDb, before: string, limit: number): number {
  return statements(db).deleteBefore.run(limit, before, limit).changes;
}
