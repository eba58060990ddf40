/**
 * Bulk retry, cancel and delete on SQLite (see QueueStore.retryTasks and the others): the tasks
 * selected by a read (selectTasks), then, in the caller's write (one transaction of the group
 * commit), those still selected changed.
 */
import { and, inArray, sql } from 'drizzle-orm';
import { CANCELLABLE, RETRYABLE, cancelChanges, retryChanges, type NormalSelection, type TaskChanges } from '../rules/index.js';
import { taskList } from '../schema.js';
import { Params, selectedIdsSql } from '../task-query.js';
import type { TaskStatus } from '../types.js';
import type { SqliteDb } from './database.js';
import { candidates, prepare, sqliteDialect, type WalkReads } from './pages.js';
import { nowIso } from './util.js';

/** The tasks a bulk action changed, by id and type (for the claims to offer them to and for metrics), and whether more matched. */
export interface BulkChanged {
  changed: { id: number; task_type_id: number }[];
  more: boolean;
}

/**
 * The ids of up to `limit` selected tasks, and whether more are selected: by id when the
 * selection names ids, else along the indexes of the list, oldest first (see ../task-query.ts),
 * in steps that hand the event loop back (see candidates). Read before the write, so that a long
 * walk does not hold the write lock; the write checks them again (see stillSelected).
 */
export async function selectTasks(db: SqliteDb, { match, limit, empty }: NormalSelection, reads: WalkReads): Promise<{ ids: number[]; more: boolean }> {
  if (empty) return { ids: [], more: false };
  let rows: { id: number }[];
  if (match.ids !== undefined) {
    const params = new Params(sqliteDialect);
    rows = reads.read(() => prepare(db, selectedIdsSql(sqliteDialect, params, match, limit + 1)).all(...params.values) as { id: number }[]);
  } else {
    rows = await candidates(db, match, 'oldest', undefined, limit + 1, reads);
  }
  return { ids: rows.slice(0, limit).map((row) => row.id), more: rows.length > limit };
}

/** Inside the write: of the tasks read as selected, those that still are (one may have changed since), through the primary key. */
function stillSelected(db: SqliteDb, { match }: NormalSelection, ids: number[]): number[] {
  if (ids.length === 0) return [];
  const params = new Params(sqliteDialect);
  const rows = prepare(db, selectedIdsSql(sqliteDialect, params, { ...match, ids }, ids.length)).all(...params.values) as { id: number }[];
  return rows.map((row) => row.id);
}

const idIn = (ids: number[]) => sql`${taskList.id} IN (SELECT value FROM json_each(${JSON.stringify(ids)}))`;

function move(db: SqliteDb, selection: NormalSelection, selected: number[], from: readonly TaskStatus[], changes: TaskChanges): BulkChanged['changed'] {
  const ids = stillSelected(db, selection, selected);
  if (ids.length === 0) return [];
  return db
    .update(taskList)
    .set({ ...changes, updated_at: nowIso() })
    .where(and(idIn(ids), inArray(taskList.status, [...from])))
    .returning({ id: taskList.id, task_type_id: taskList.task_type_id })
    .all();
}

/** Inside a write: the selected failed and cancelled tasks back to pending, as retryTask puts one. */
export const retryTasks = (db: SqliteDb, selection: NormalSelection, selected: number[]) => move(db, selection, selected, RETRYABLE, retryChanges(nowIso()));

/** Inside a write: the selected pending and running tasks cancelled, as cancelTask cancels one. */
export const cancelTasks = (db: SqliteDb, selection: NormalSelection, selected: number[]) => move(db, selection, selected, CANCELLABLE, cancelChanges(nowIso()));

/** Inside a write: the selected tasks deleted. */
export function deleteTasks(db: SqliteDb, selection: NormalSelection, selected: number[]): BulkChanged['changed'] {
  const ids = stillSelected(db, selection, selected);
  if (ids.length === 0) return [];
  return db.delete(taskList).where(idIn(ids)).returning({ id: taskList.id, task_type_id: taskList.task_type_id }).all();
}
