/**
 * The queue's statistics on PostgreSQL: the log of task changes (task_events) folded into rollups
 * per type and minute (task_stats) by one replica at a time, and read back with the counts (see
 * ../rules/stats.ts).
 */
import { addRollup, foldChanges, minuteOf, STATS_FOLD_BATCH, STATS_KEPT_MS, summarizeStats, type FoldedChange, type Stats, type StatsRollup } from '../rules/stats.js';
import type { PgClient } from './client.js';
import { HORIZON } from './changes.js';
import { countTasks } from './counts.js';
import { LOCKS } from './database.js';

/**
 * Folds the next changes of the log into the rollups, in one transaction under an advisory lock
 * (nothing while another replica folds); returns how many it read (STATS_FOLD_BATCH or more means
 * there may be more). Reads only final changes, as readers of the log do (see HORIZON in
 * ./changes.ts), in (tx, id) order, so that a change committed late is never skipped.
 * Also forgets rollups older than the stats look back.
 */
export async function foldStats(db: PgClient, now: Date): Promise<number> {
  return db.transaction(async (tx) => {
    const [lock] = await tx.query<{ held: boolean }>('SELECT pg_try_advisory_xact_lock($1) AS held', [LOCKS.stats]);
    if (!lock?.held) return 0;
    const [position] = await tx.query<{ tx: string; id: number }>(`SELECT tx::text, id FROM stats_position WHERE only_row`);
    const changes = await tx.query<FoldedChange & { tx: string; id: number }>(
      `SELECT e.tx::text, e.id, e.task_type_id, e.kind, e.at, e.status,
              CASE WHEN e.kind = 'claimed' THEN (SELECT run_at FROM task_list WHERE id = e.task_id) END AS run_at,
              CASE WHEN e.kind IN ('completed', 'failed', 'lease_expired') THEN
                (SELECT claimed_at FROM task_attempts WHERE task_id = e.task_id AND attempt = e.attempt ORDER BY id DESC LIMIT 1) END AS claimed_at
         FROM task_events e
        WHERE (e.tx, e.id) > ($1::xid8, $2::bigint) AND e.tx < ${HORIZON}
        ORDER BY e.tx, e.id LIMIT $3`,
      [position?.tx ?? '0', position?.id ?? 0, STATS_FOLD_BATCH],
    );
    if (changes.length === 0) return 0;
    const folded = [...foldChanges(changes, new Map()).values()];
    const stored = await tx.query<StatsRollup>(
      `SELECT s.task_type_id, s.minute, s.completed, s.failed, s.retried, s.wait_hist::json AS wait_hist, s.run_hist::json AS run_hist
         FROM task_stats s JOIN json_to_recordset($1::text::json) AS k(task_type_id bigint, minute text)
           ON s.task_type_id = k.task_type_id AND s.minute = k.minute`,
      [JSON.stringify(folded.map(({ task_type_id, minute }) => ({ task_type_id, minute })))],
    );
    const storedByKey = new Map(stored.map((row) => [`${row.task_type_id} ${row.minute}`, row]));
    const merged = folded.map((rollup) => {
      const row = storedByKey.get(`${rollup.task_type_id} ${rollup.minute}`);
      return row ? addRollup(row, rollup) : rollup;
    });
    await tx.query(
      `INSERT INTO task_stats (task_type_id, minute, completed, failed, retried, wait_hist, run_hist)
       SELECT task_type_id, minute, completed, failed, retried, wait_hist::text, run_hist::text
         FROM json_to_recordset($1::text::json)
           AS r(task_type_id bigint, minute text, completed integer, failed integer, retried integer, wait_hist json, run_hist json)
       ON CONFLICT (task_type_id, minute) DO UPDATE SET completed = excluded.completed, failed = excluded.failed,
         retried = excluded.retried, wait_hist = excluded.wait_hist, run_hist = excluded.run_hist`,
      [JSON.stringify(merged)],
    );
    const last = changes[changes.length - 1]!;
    await tx.query(
      `INSERT INTO stats_position (only_row, tx, id) VALUES (true, $1::xid8, $2)
       ON CONFLICT (only_row) DO UPDATE SET tx = excluded.tx, id = excluded.id`,
      [last.tx, last.id],
    );
    await tx.query('DELETE FROM task_stats WHERE minute < $1', [minuteOf(new Date(now.getTime() - STATS_KEPT_MS).toISOString())]);
    return changes.length;
  });
}

/** The stats as of `now`, from the counts, each type's oldest pending task and the rollups (fold first). */
export async function readStats(db: PgClient, now: Date): Promise<Stats> {
  const since = minuteOf(new Date(now.getTime() - 24 * 3_600_000).toISOString());
  const [types, counts, rollups] = await Promise.all([
    // Each type's oldest pending task: one probe of task_list_type_status_created_idx per type.
    db.query<{ id: number; name: string; oldest_pending: string | null }>(
      `SELECT id, name, (SELECT min(created_at) FROM task_list WHERE task_type_id = t.id AND status = 'pending') AS oldest_pending
         FROM task_types t ORDER BY name`,
    ),
    countTasks(db),
    db.query<StatsRollup>(`SELECT task_type_id, minute, completed, failed, retried, wait_hist::json AS wait_hist, run_hist::json AS run_hist FROM task_stats WHERE minute >= $1`, [
      since,
    ]),
  ]);
  return summarizeStats(now, types, counts, rollups);
}
