/**
 * The queue's statistics on SQLite: the log of task changes (task_events) folded into rollups per
 * type and minute (task_stats), and read back with the counts (see ../rules/stats.ts).
 */
import { addRollup, foldChanges, minuteOf, STATS_FOLD_BATCH, STATS_KEPT_MS, summarizeStats, type FoldedChange, type Stats, type StatsRollup } from '../rules/stats.js';
import type { SqliteDb } from './database.js';
import { countTasks } from './tasks.js';
import { preparedPer } from './util.js';

interface RollupRow extends Omit<StatsRollup, 'wait_hist' | 'run_hist'> {
  wait_hist: string;
  run_hist: string;
}

const statements = preparedPer((db: SqliteDb) => {
  const client = db.$client;
  return {
    position: client.prepare<[], { position: number }>(`SELECT position FROM stats_position WHERE id = 1`),
    setPosition: client.prepare<[{ position: number }], void>(
      `INSERT INTO stats_position (id, position) VALUES (1, @position) ON CONFLICT (id) DO UPDATE SET position = excluded.position`,
    ),
    // What a rollup needs of each change: for a claim, when the task was due; for an attempt's
    // end, when it was claimed (the newest attempt of that number: an operator's retry counts again).
    changes: client.prepare<[{ after: number; limit: number }], FoldedChange & { id: number }>(
      `SELECT e.id, e.task_type_id, e.kind, e.at, e.status,
              CASE WHEN e.kind = 'claimed' THEN (SELECT run_at FROM task_list WHERE id = e.task_id) END AS run_at,
              CASE WHEN e.kind IN ('completed', 'failed', 'lease_expired') THEN
                (SELECT claimed_at FROM task_attempts WHERE task_id = e.task_id AND attempt = e.attempt ORDER BY id DESC LIMIT 1) END AS claimed_at
         FROM task_events e WHERE e.id > @after ORDER BY e.id LIMIT @limit`,
    ),
    rollup: client.prepare<[{ task_type_id: number; minute: string }], RollupRow>(
      `SELECT * FROM task_stats WHERE task_type_id = @task_type_id AND minute = @minute`,
    ),
    saveRollup: client.prepare<[RollupRow], void>(
      `INSERT INTO task_stats (task_type_id, minute, completed, failed, retried, wait_hist, run_hist)
       VALUES (@task_type_id, @minute, @completed, @failed, @retried, @wait_hist, @run_hist)
       ON CONFLICT (task_type_id, minute) DO UPDATE SET completed = excluded.completed, failed = excluded.failed,
         retried = excluded.retried, wait_hist = excluded.wait_hist, run_hist = excluded.run_hist`,
    ),
    forget: client.prepare<[{ before: string }], void>(`DELETE FROM task_stats WHERE minute < @before`),
    rollupsSince: client.prepare<[{ since: string }], RollupRow>(`SELECT * FROM task_stats WHERE minute >= @since`),
    // Each type's oldest pending task, one probe of task_list_type_status_created_idx per type.
    types: client.prepare<[], { id: number; name: string; oldest_pending: string | null }>(
      `SELECT id, name, (SELECT min(created_at) FROM task_list INDEXED BY task_list_type_status_created_idx WHERE task_type_id = t.id AND status = 'pending') AS oldest_pending
         FROM task_types t ORDER BY name`,
    ),
  };
});

const parsed = (row: RollupRow): StatsRollup => ({ ...row, wait_hist: JSON.parse(row.wait_hist), run_hist: JSON.parse(row.run_hist) });

/**
 * Folds the next changes of the log into the rollups, in the caller's write transaction; returns
 * how many it read (STATS_FOLD_BATCH or more means there may be more). Also forgets rollups older than
 * the stats look back.
 */
export function foldStats(db: SqliteDb, now: Date): number {
  const s = statements(db);
  const after = s.position.get()?.position ?? 0;
  const changes = s.changes.all({ after, limit: STATS_FOLD_BATCH });
  if (changes.length === 0) return 0;
  const folded = foldChanges(changes, new Map());
  for (const rollup of folded.values()) {
    const stored = s.rollup.get(rollup);
    const merged = stored ? addRollup(parsed(stored), rollup) : rollup;
    s.saveRollup.run({ ...merged, wait_hist: JSON.stringify(merged.wait_hist), run_hist: JSON.stringify(merged.run_hist) });
  }
  s.setPosition.run({ position: changes[changes.length - 1]!.id });
  s.forget.run({ before: minuteOf(new Date(now.getTime() - STATS_KEPT_MS).toISOString()) });
  return changes.length;
}

/** The stats as of `now`, from the counts, each type's oldest pending task and the rollups (fold first). */
export function readStats(db: SqliteDb, now: Date): Stats {
  const s = statements(db);
  const since = minuteOf(new Date(now.getTime() - 24 * 3_600_000).toISOString());
  return summarizeStats(now, s.types.all(), countTasks(db), s.rollupsSince.all({ since }).map(parsed));
}
