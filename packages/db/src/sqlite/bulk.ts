/**
 * Bulk retry, cancel and delete on SQLite (see QueueStore.retryTasks and the others): the tasks
 * selected, then changed, in the caller's write (one transaction of the group commit).
 */
import { and, inArray, sql } from 'drizzle-orm';
import { CANCELLABLE, RETRYABLE, cancelChanges, retryChanges, type NormalSelection, type TaskChanges } from '../rules/index.js';
import { taskList } from '../schema.js';
import { Params, selectedIdsSql } from '../task-query.js';
import type { TaskStatus } from '../types.js';
import type { SqliteDb } from './database.js';
import { candidates, prepare, sqliteDialect } from './pages.js';
import { nowIso } from './util.js';

/** The tasks a bulk action changed, by id and type (for the claims to offer them to and for metrics), and whether more matched. */
export interface BulkChanged {
  changed: { id: number; task_type_id: number }[];
  more: boolean;
}

/**
 * The ids of up to `limit` selected tasks, and whether more are selected: by id when the
 * selection names ids, else along the indexes of the list, oldest first (see ../task-query.ts).
 */
function selectIds(db: SqliteDb, { match, limit }: NormalSelection): { ids: number[]; more: boolean } {
  let rows: { id: number }[];
  if (match.ids !== undefined) {
    const params = new Params(sqliteDialect);
    rows = prepare(db, selectedIdsSql(sqliteDialect, params, match, limit + 1)).all(...params.values) as { id: number }[];
  } else {
    rows = candidates(db, match, 'oldest', undefined, limit + 1);
  }
  return { ids: rows.slice(0, limit).map((row) => row.id), more: rows.length > limit };
}

const idIn = (ids: number[]) => sql`${taskList.id} IN (SELECT value FROM json_each(${JSON.stringify(ids)}))`;

function move(db: SqliteDb, selection: NormalSelection, from: readonly TaskStatus[], changes: TaskChanges): BulkChanged {
  if (selection.empty) return { changed: [], more: false };
  const { ids, more } = selectIds(db, selection);
  if (ids.length === 0) return { changed: [], more };
  const changed = db
    .update(taskList)
    .set({ ...changes, updated_at: nowIso() })
    .where(and(idIn(ids), inArray(taskList.status, [...from])))
    .returning({ id: taskList.id, task_type_id: taskList.task_type_id })
    .all();
  return { changed, more };
}

/** Inside a write: the selected failed and cancelled tasks back to pending, as retryTask puts one. */
export const retryTasks = (db: SqliteDb, selection: NormalSelection): BulkChanged => move(db, selection, RETRYABLE, retryChanges(nowIso()));

/** Inside a write: the selected pending and running tasks cancelled, as cancelTask cancels one. */
export const cancelTasks = (db: SqliteDb, selection: NormalSelection): BulkChanged => move(db, selection, CANCELLABLE, cancelChanges(nowIso()));

/** Inside a write: the selected tasks deleted. */
export function deleteTasks(db: SqliteDb, selection: NormalSelection): BulkChanged {
  if (selection.empty) return { changed: [], more: false };
  const { ids, more } = selectIds(db, selection);
  if (ids.length === 0) return { changed: [], more };
  const changed = db.delete(taskList).where(idIn(ids)).returning({ id: taskList.id, task_type_id: taskList.task_type_id }).all();
  return { changed, more };
}
