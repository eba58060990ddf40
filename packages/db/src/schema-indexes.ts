/**
 * The indexes of task_list, the same for every engine (../schema.ts for SQLite,
 * ./postgres/schema.ts for PostgreSQL), given the dialect's index builders.
 */
import { sql, type SQL } from 'drizzle-orm';

type Columns<C> = Record<'id' | 'task_type_id' | 'status' | 'priority' | 'run_at' | 'lease_expires_at' | 'completed_at' | 'created_at' | 'idempotency_key', C>;
type Builder<C, B> = (name: string) => { on(...columns: [C, ...C[]]): B };

export function taskListIndexes<C, B extends { where(condition: SQL): B }>(t: Columns<C>, index: Builder<C, B>, uniqueIndex: Builder<C, B>): B[] {
  return [
    // Claiming: each type's pending tasks in priority, then run_at, then id order, so that one
    // type's backlog is never scanned by workers of another.
    index('task_list_pending_type_idx').on(t.task_type_id, t.priority, t.run_at, t.id).where(sql`status = 'pending'`),
    // Claiming and sweeping: running tasks whose lease has run out.
    index('task_list_lease_idx').on(t.lease_expires_at).where(sql`status = 'running'`),
    // Retention: finished tasks by when they finished.
    index('task_list_finished_idx').on(t.completed_at).where(sql`completed_at IS NOT NULL`),
    uniqueIndex('task_list_idempotency_idx').on(t.task_type_id, t.idempotency_key).where(sql`idempotency_key IS NOT NULL`),
    // GET /api/tasks orders newest first; each filter has an index that also serves that order.
    index('task_list_created_idx').on(t.created_at, t.id),
    index('task_list_type_created_idx').on(t.task_type_id, t.created_at, t.id),
    index('task_list_status_created_idx').on(t.status, t.created_at, t.id),
    index('task_list_type_status_created_idx').on(t.task_type_id, t.status, t.created_at, t.id),
    // The list's other sorts, for any status: each status is walked through the index on its own
    // and the walks merged (see ./task-query.ts), so one index per sort serves every set of
    // statuses. Priority in the order claims take tasks (a type's pending tasks also through
    // task_list_pending_type_idx); a type, or any other filter, is checked along the walk.
    index('task_list_status_priority_idx').on(t.status, t.priority, t.run_at, t.id),
    index('task_list_status_run_at_idx').on(t.status, t.run_at, t.id),
  ];
}
