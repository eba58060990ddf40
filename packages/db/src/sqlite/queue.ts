/**
 * The queue: claiming under a lease, heartbeats, settling, cancel and retry, and tidying
 * expired leases. Each function is one transaction; claims are a single UPDATE … RETURNING.
 */
import { and, eq, inArray, sql } from 'drizzle-orm';
import { ConflictError, LeaseLostError, taskNotFound } from '../errors.js';
import { taskList, taskTypes } from '../schema.js';
import type { ClaimFilter, ClaimRequest, Lease } from '../store.js';
import type { Task, TaskStatus, TaskType } from '../types.js';
import type { SqliteDb } from './database.js';
import { addSeconds, nowIso } from './util.js';

/** The ids of the active types a claim may take, as a JSON array for `json_each`. */
function eligibleTypeIds(db: SqliteDb, filter: ClaimFilter): string {
  // A list that is given but empty matches nothing; no list at all matches every active type.
  const byId = filter.task_type_ids ? JSON.stringify(filter.task_type_ids) : null;
  const byName = filter.task_types ? JSON.stringify(filter.task_types) : null;
  const ids = db
    .select({ id: taskTypes.id })
    .from(taskTypes)
    .where(
      and(
        eq(taskTypes.is_active, true),
        byId === null && byName === null
          ? undefined
          : sql`(${taskTypes.id} IN (SELECT value FROM json_each(${byId})) OR ${taskTypes.name} IN (SELECT value FROM json_each(${byName})))`,
      ),
    )
    .all()
    .map((row) => row.id);
  return JSON.stringify(ids);
}

/** How many tasks of each type an operation touched. */
export type CountByType = Map<number, number>;

function countByType(rows: { task_type_id: number }[]): CountByType {
  const counts: CountByType = new Map();
  for (const { task_type_id } of rows) counts.set(task_type_id, (counts.get(task_type_id) ?? 0) + 1);
  return counts;
}

/**
 * Ends the leases that ran out by `now`: each counts as a failed attempt, so the task goes back
 * to pending, or becomes failed once its attempts are used up.
 */
export interface ExpiredLeases {
  released: CountByType;
  failed: CountByType;
}

export function expireLeases(db: SqliteDb, now: string): ExpiredLeases {
  const expired = and(eq(taskList.status, 'running'), sql`${taskList.lease_expires_at} <= ${now}`);
  const failed = db
    .update(taskList)
    .set({
      status: 'failed',
      error_message: sql`'Lease expired after ' || ${taskList.attempts} || ' of ' || ${taskList.max_attempts} || ' attempts'`,
      completed_at: now,
      updated_at: now,
      lease_expires_at: null,
    })
    .where(and(expired, sql`${taskList.attempts} >= ${taskList.max_attempts}`))
    .returning({ task_type_id: taskList.task_type_id })
    .all();
  const released = db
    .update(taskList)
    .set({ status: 'pending', error_message: 'Lease expired', updated_at: now, lease_expires_at: null })
    .where(expired)
    .returning({ task_type_id: taskList.task_type_id })
    .all();
  return { released: countByType(released), failed: countByType(failed) };
}

export function claimTasks(db: SqliteDb, request: ClaimRequest): { tasks: Task[]; expired: ExpiredLeases } {
  return db.transaction(
    () => {
      const now = nowIso();
      // Expired leases first, so that their tasks compete for this claim like any pending task.
      const expired = expireLeases(db, now);
      const typeIds = eligibleTypeIds(db, request);
      const candidates = sql`SELECT id FROM task_list
         WHERE status = 'pending' AND run_at <= ${now} AND task_type_id IN (SELECT value FROM json_each(${typeIds}))
         ORDER BY priority, run_at, id LIMIT ${request.limit}`;
      const claimed = db
        .update(taskList)
        .set({
          status: 'running',
          attempts: sql`${taskList.attempts} + 1`,
          worker_id: request.worker_id,
          lease_id: sql`lower(hex(randomblob(16)))`,
          lease_expires_at: addSeconds(now, request.lease_seconds),
          started_at: now,
          updated_at: now,
        })
        .where(sql`${taskList.id} IN (${candidates})`)
        .returning()
        .all();
      const tasks = claimed.sort((a, b) => a.priority - b.priority || a.run_at.localeCompare(b.run_at) || a.id - b.id);
      return { tasks, expired };
    },
    { behavior: 'immediate' },
  );
}

export function nextClaimableAt(db: SqliteDb, filter: ClaimFilter): string | null {
  const typeIds = eligibleTypeIds(db, filter);
  const row = db.get<{ at: string | null }>(sql`SELECT min(at) AS at FROM (
      SELECT min(run_at) AS at FROM task_list
       WHERE status = 'pending' AND task_type_id IN (SELECT value FROM json_each(${typeIds}))
      UNION ALL
      SELECT min(lease_expires_at) AS at FROM task_list
       WHERE status = 'running' AND attempts < max_attempts AND task_type_id IN (SELECT value FROM json_each(${typeIds}))
    )`);
  return row?.at ?? null;
}

/** Applies `changes` to a task only while `lease` still holds it; else says why not. */
function settle(db: SqliteDb, id: number, lease: Lease, changes: Partial<Task>): Task {
  const row = db
    .update(taskList)
    .set({ ...changes, updated_at: nowIso() })
    .where(
      and(
        eq(taskList.id, id),
        eq(taskList.status, 'running'),
        eq(taskList.lease_id, lease.lease_id),
        eq(taskList.worker_id, lease.worker_id),
      ),
    )
    .returning()
    .get();
  if (row) return row;
  const current = db.select().from(taskList).where(eq(taskList.id, id)).get();
  if (!current) throw taskNotFound(id);
  const why =
    current.status !== 'running'
      ? `it is ${current.status}`
      : current.lease_id === lease.lease_id
        ? `it is leased to another worker`
        : `its lease was taken over by a newer claim`;
  throw new LeaseLostError(`Task ${id} is not leased to worker '${lease.worker_id}' with lease '${lease.lease_id}': ${why}`);
}

export function heartbeatTask(db: SqliteDb, id: number, lease: Lease, leaseSeconds: number): Task {
  return settle(db, id, lease, { lease_expires_at: addSeconds(nowIso(), leaseSeconds) });
}

export function completeTask(db: SqliteDb, id: number, lease: Lease, result: unknown): Task {
  const now = nowIso();
  return settle(db, id, lease, { status: 'completed', result: result ?? null, completed_at: now, lease_expires_at: null });
}

/** Exponential backoff with equal jitter: half the delay fixed, half random. */
export function retryDelaySeconds(type: Pick<TaskType, 'retry_base_seconds' | 'retry_max_seconds'>, attempt: number): number {
  const delay = Math.min(type.retry_max_seconds, type.retry_base_seconds * 2 ** Math.max(0, attempt - 1));
  return delay / 2 + Math.random() * (delay / 2);
}

export function failTask(db: SqliteDb, id: number, lease: Lease, errorMessage: string, retry: boolean): Task {
  return db.transaction(
    (tx) => {
      const current = tx.select().from(taskList).where(eq(taskList.id, id)).get();
      const now = nowIso();
      if (current && retry && current.attempts < current.max_attempts) {
        const type = tx.select().from(taskTypes).where(eq(taskTypes.id, current.task_type_id)).get()!;
        const runAt = addSeconds(now, retryDelaySeconds(type, current.attempts));
        return settle(db, id, lease, { status: 'pending', error_message: errorMessage, run_at: runAt, lease_expires_at: null });
      }
      return settle(db, id, lease, { status: 'failed', error_message: errorMessage, completed_at: now, lease_expires_at: null });
    },
    { behavior: 'immediate' },
  );
}

/**
 * Moves a task from one of the `from` statuses with `changes`; ConflictError naming `action`
 * when it is in another status.
 */
function transition(db: SqliteDb, id: number, from: TaskStatus[], changes: Partial<Task>, action: string): Task {
  const row = db
    .update(taskList)
    .set({ ...changes, updated_at: nowIso() })
    .where(and(eq(taskList.id, id), inArray(taskList.status, from)))
    .returning()
    .get();
  if (row) return row;
  const current = db.select({ status: taskList.status }).from(taskList).where(eq(taskList.id, id)).get();
  if (!current) throw taskNotFound(id);
  throw new ConflictError(`Task ${id} is ${current.status}: only ${from.join(' or ')} tasks can be ${action}`);
}

export function cancelTask(db: SqliteDb, id: number): Task {
  return transition(db, id, ['pending', 'running'], { status: 'cancelled', completed_at: nowIso(), lease_expires_at: null }, 'cancelled');
}

export function retryTask(db: SqliteDb, id: number): Task {
  const changes = { status: 'pending', attempts: 0, run_at: nowIso(), completed_at: null, lease_expires_at: null } as const;
  return transition(db, id, ['failed', 'cancelled'], changes, 'retried');
}

export function sweepExpiredLeases(db: SqliteDb): ExpiredLeases {
  return db.transaction(() => expireLeases(db, nowIso()), { behavior: 'immediate' });
}
