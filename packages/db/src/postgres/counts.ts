/**
 * The task counts (the queue depth): task_counts as of the latest fold, plus the deltas that the
 * triggers on task_list have appended since (migration 0001), read together in one statement so
 * that they agree with each other whatever folds meanwhile.
 */
import type { TaskCount } from '../store.js';
import type { Queryable } from './client.js';
import { LOCKS } from './database.js';

/**
 * Moves the deltas committed so far into task_counts, one replica at a time: nothing while
 * another holds the lock. Deltas of transactions not yet committed are not seen, and stay for
 * the next fold. Run often enough that the deltas stay few (every count and every sweep).
 */
export async function foldTaskCounts(db: Queryable): Promise<void> {
  await db.query(
    `WITH lock AS (SELECT pg_try_advisory_xact_lock($1) AS held),
       moved AS (DELETE FROM task_count_deltas WHERE (SELECT held FROM lock) RETURNING task_type_id, status, delta)
     INSERT INTO task_counts (task_type_id, status, count)
       SELECT task_type_id, status, sum(delta) FROM moved GROUP BY task_type_id, status
     ON CONFLICT (task_type_id, status) DO UPDATE SET count = task_counts.count + excluded.count`,
    [LOCKS.counts],
  );
}

/** Tasks per type (by name) and status, without counting rows: cheap at any size. */
export async function countTasks(db: Queryable): Promise<TaskCount[]> {
  await foldTaskCounts(db);
  return db.query<TaskCount>(
    `SELECT ty.name AS task_type, c.status, sum(c.n)::bigint AS count
       FROM (SELECT task_type_id, status, count AS n FROM task_counts
             UNION ALL SELECT task_type_id, status, delta FROM task_count_deltas) AS c
       JOIN task_types ty ON ty.id = c.task_type_id
      GROUP BY c.task_type_id, ty.name, c.status
     HAVING sum(c.n) > 0
      ORDER BY c.task_type_id, c.status`,
  );
}
