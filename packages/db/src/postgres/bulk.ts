/**
 * Bulk retry, cancel and delete on PostgreSQL (see QueueStore.retryTasks and the others): the
 * tasks selected, then changed, in one transaction. A task that another transaction moved
 * meanwhile is changed only if it is still in a status the action allows (the UPDATE checks it
 * again under the row's lock), so `changed` counts what was done.
 */
import { countByType } from '../events.js';
import { CANCELLABLE, RETRYABLE, cancelChanges, retryChanges, walksOf, type NormalSelection, type TaskChanges } from '../rules/index.js';
import { Params, selectedIdsSql, walkSql } from '../task-query.js';
import type { TaskStatus } from '../types.js';
import type { PgClient, Queryable } from './client.js';
import { matchesNothing, postgresDialect } from './pages.js';
import type { Notify } from './tasks.js';
import { nowIso, setClause } from './util.js';

/** The tasks a bulk action changed, by id and type (for the notification and metrics), and whether more matched. */
export interface BulkChanged {
  changed: { id: number; task_type_id: number }[];
  more: boolean;
}

const IDS = 'SELECT value::bigint FROM json_array_elements_text($1::text::json)';

/**
 * The ids of up to `limit` selected tasks, and whether more are selected: by id when the
 * selection names ids, else along the indexes of the list, oldest first (see ../task-query.ts).
 */
async function selectIds(tx: Queryable, { match, limit }: NormalSelection): Promise<{ ids: number[]; more: boolean }> {
  const params = new Params(postgresDialect);
  let text: string;
  if (match.ids !== undefined) {
    text = selectedIdsSql(postgresDialect, params, match, limit + 1);
  } else {
    const walks = walksOf(match.statuses, 'oldest').map((status) => walkSql(postgresDialect, params, { match, sort: 'oldest', status, after: undefined, limit: limit + 1 }));
    text = `SELECT id FROM (${walks.map((walk) => `(${walk})`).join(' UNION ALL ')}) AS walks ORDER BY created_at, id LIMIT ${params.add(limit + 1)}`;
  }
  const rows = await tx.query<{ id: number }>(text, params.values);
  return { ids: rows.slice(0, limit).map((row) => row.id), more: rows.length > limit };
}

/** Runs `change` on the selected ids in one transaction, unless nothing can be selected. */
async function bulk(
  db: PgClient,
  selection: NormalSelection,
  change: (tx: Queryable, ids: number[]) => Promise<BulkChanged['changed']>,
): Promise<BulkChanged> {
  if (selection.empty || matchesNothing(selection.match)) return { changed: [], more: false };
  return db.transaction(async (tx) => {
    const { ids, more } = await selectIds(tx, selection);
    return { changed: ids.length ? await change(tx, ids) : [], more };
  });
}

function move(db: PgClient, selection: NormalSelection, from: readonly TaskStatus[], changes: TaskChanges, notify?: Notify): Promise<BulkChanged> {
  return bulk(db, selection, async (tx, ids) => {
    const { set, params } = setClause({ ...changes, updated_at: nowIso() }, 3);
    const changed = await tx.query<{ id: number; task_type_id: number }>(
      `UPDATE task_list SET ${set} WHERE id IN (${IDS}) AND status IN (SELECT value FROM json_array_elements_text($2::text::json)) RETURNING id, task_type_id`,
      [JSON.stringify(ids), JSON.stringify(from), ...params],
    );
    if (notify && changed.length) await notify(tx, countByType(changed));
    return changed;
  });
}

/** The selected failed and cancelled tasks back to pending, as retryTask puts one; waiting claims are told through `notify`. */
export const retryTasks = (db: PgClient, selection: NormalSelection, notify: Notify): Promise<BulkChanged> =>
  move(db, selection, RETRYABLE, retryChanges(nowIso()), notify);

/** The selected pending and running tasks cancelled, as cancelTask cancels one. */
export const cancelTasks = (db: PgClient, selection: NormalSelection): Promise<BulkChanged> => move(db, selection, CANCELLABLE, cancelChanges(nowIso()));

/** The selected tasks deleted. */
export const deleteTasks = (db: PgClient, selection: NormalSelection): Promise<BulkChanged> =>
  bulk(db, selection, (tx, ids) => tx.query(`DELETE FROM task_list WHERE id IN (${IDS}) RETURNING id, task_type_id`, [JSON.stringify(ids)]));
