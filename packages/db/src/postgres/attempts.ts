/**
 * A task's history: its attempts, as the trigger of migration 0002 keeps them in task_attempts
 * (one row per claim, closed when the task leaves `running`).
 */
import { taskNotFound } from '../errors.js';
import type { TaskAttempt } from '../types.js';
import type { Queryable } from './client.js';

/** A task's row joined with its attempts, if any: one row with NULL attempt columns for a task never claimed, none for no task. */
type AttemptRow = { [K in keyof TaskAttempt]: TaskAttempt[K] | null };

/** One statement, so that the task and its attempts are seen at the same moment; by the index on (task_id, lease_id). */
const ATTEMPTS = `SELECT a.task_id, a.attempt, a.worker_id, a.lease_id, a.claimed_at, a.heartbeats, a.progress, a.progress_message,
         a.finished_at, a.outcome, a.error_message
    FROM task_list t LEFT JOIN task_attempts a ON a.task_id = t.id
   WHERE t.id = $1
   ORDER BY a.id`;

/** The task's attempts, oldest first; NotFoundError when there is no such task. */
export async function listAttempts(db: Queryable, taskId: number): Promise<TaskAttempt[]> {
  const rows = await db.query<AttemptRow>(ATTEMPTS, [taskId]);
  if (rows.length === 0) throw taskNotFound(taskId);
  return rows.filter((row): row is TaskAttempt => row.lease_id !== null);
}
