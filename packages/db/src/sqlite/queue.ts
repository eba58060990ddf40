/**
 * The queue: claiming under a lease, heartbeats, settling, cancel and retry, and tidying
 * expired leases. Each function is one transaction; claims are a single UPDATE … RETURNING.
 */
import { and, eq, inArray, sql, type SQL } from 'drizzle-orm';
import { taskNotFound } from '../errors.js';
import { countByType, type ExpiredLeases } from '../events.js';
import { CANCELLABLE, RETRYABLE, cancelChanges, claimOrder, failChanges, leaseLost as leaseLostError, retryChanges, transitionRefused } from '../rules/index.js';
import { taskList, taskTypes } from '../schema.js';
import type { ClaimFilter, ClaimRequest, Lease } from '../store.js';
import type { Task, TaskStatus } from '../types.js';
import type { SqliteDb } from './database.js';
import { addSeconds, nowIso, preparedPer } from './util.js';

const p = sql.placeholder;

/** Up to this many eligible types, a claim walks each type's pending index; beyond, one scan. */
const MAX_TYPES_PER_CLAIM_UNION = 50;

/**
 * The ids of pending, due tasks of the eligible types, best first: priority, then run_at, then id.
 * Each type's best come from its own index, so a large backlog of another type is never read.
 */
function claimCandidates(typeCount: number): SQL {
  if (typeCount > MAX_TYPES_PER_CLAIM_UNION) {
    return sql`SELECT id FROM task_list
       WHERE status = 'pending' AND run_at <= ${p('now')} AND task_type_id IN (SELECT value FROM json_each(${p('type_ids')}))
       ORDER BY priority, run_at, id LIMIT ${p('limit')}`;
  }
  const perType = Array.from(
    { length: typeCount },
    (_, i) => sql`SELECT * FROM (SELECT id, priority, run_at FROM task_list
       WHERE status = 'pending' AND task_type_id = ${p(`type_${i}`)} AND run_at <= ${p('now')}
       ORDER BY priority, run_at, id LIMIT ${p('limit')})`,
  );
  return sql`SELECT id FROM (${sql.join(perType, sql` UNION ALL `)}) ORDER BY priority, run_at, id LIMIT ${p('limit')}`;
}

const statements = preparedPer((db: SqliteDb) => {
  const expired = and(eq(taskList.status, 'running'), sql`${taskList.lease_expires_at} <= ${p('now')}`);
  const held = and(
    eq(taskList.id, p('id')),
    eq(taskList.status, 'running'),
    eq(taskList.lease_id, p('lease_id')),
    eq(taskList.worker_id, p('worker_id')),
  );
  const claims = new Map<number, ReturnType<typeof claimStatement>>();
  const claimStatement = (typeCount: number) =>
    db
      .update(taskList)
      .set({
        status: 'running',
        attempts: sql`${taskList.attempts} + 1`,
        worker_id: sql`${p('worker_id')}`,
        lease_id: sql`lower(hex(randomblob(16)))`,
        lease_expires_at: sql`${p('lease_expires_at')}`,
        started_at: sql`${p('now')}`,
        updated_at: sql`${p('now')}`,
      })
      .where(sql`${taskList.id} IN (${claimCandidates(typeCount)})`)
      .returning()
      .prepare();
  return {
    activeTypes: db.select({ id: taskTypes.id }).from(taskTypes).where(eq(taskTypes.is_active, true)).prepare(),
    // A list that is given but empty matches nothing; either list matching is enough.
    activeTypesIn: db
      .select({ id: taskTypes.id })
      .from(taskTypes)
      .where(
        and(
          eq(taskTypes.is_active, true),
          sql`(${taskTypes.id} IN (SELECT value FROM json_each(${p('ids')})) OR ${taskTypes.name} IN (SELECT value FROM json_each(${p('names')})))`,
        ),
      )
      .prepare(),
    /** The claim for a number of eligible types, prepared on first use. */
    claim(typeCount: number) {
      const key = Math.min(typeCount, MAX_TYPES_PER_CLAIM_UNION + 1);
      let statement = claims.get(key);
      if (!statement) claims.set(key, (statement = claimStatement(key)));
      return statement;
    },
    expireFailed: db
      .update(taskList)
      .set({
        status: 'failed',
        error_message: sql`'Lease expired after ' || ${taskList.attempts} || ' of ' || ${taskList.max_attempts} || ' attempts'`,
        completed_at: sql`${p('now')}`,
        updated_at: sql`${p('now')}`,
        lease_expires_at: null,
      })
      .where(and(expired, sql`${taskList.attempts} >= ${taskList.max_attempts}`))
      .returning({ task_type_id: taskList.task_type_id })
      .prepare(),
    expireReleased: db
      .update(taskList)
      .set({ status: 'pending', error_message: 'Lease expired', updated_at: sql`${p('now')}`, lease_expires_at: null })
      .where(expired)
      .returning({ task_type_id: taskList.task_type_id })
      .prepare(),
    task: db.select().from(taskList).where(eq(taskList.id, p('id'))).prepare(),
    type: db.select().from(taskTypes).where(eq(taskTypes.id, p('id'))).prepare(),
    heartbeat: db
      .update(taskList)
      .set({ lease_expires_at: sql`${p('lease_expires_at')}`, updated_at: sql`${p('now')}` })
      .where(held)
      .returning()
      .prepare(),
    complete: db
      .update(taskList)
      .set({ status: 'completed', result: sql`${p('result')}`, completed_at: sql`${p('now')}`, updated_at: sql`${p('now')}`, lease_expires_at: null })
      .where(held)
      .returning()
      .prepare(),
  };
});

/** The prepared claim for a number of eligible types (its plan is checked in a test). */
export const claimStatement = (db: SqliteDb, typeCount: number) => statements(db).claim(typeCount);

/** The ids of the active types a claim may take. */
export function eligibleTypeIds(db: SqliteDb, filter: ClaimFilter): number[] {
  const prepared = statements(db);
  const rows =
    filter.task_type_ids === undefined && filter.task_types === undefined
      ? prepared.activeTypes.all()
      : prepared.activeTypesIn.all({
          ids: filter.task_type_ids ? JSON.stringify(filter.task_type_ids) : null,
          names: filter.task_types ? JSON.stringify(filter.task_types) : null,
        });
  return rows.map((row) => row.id);
}

/** Ends the leases that ran out by `now` (see ExpiredLeases). */
export function expireLeases(db: SqliteDb, now: string): ExpiredLeases {
  const prepared = statements(db);
  const failed = prepared.expireFailed.all({ now });
  const released = prepared.expireReleased.all({ now });
  return { released: countByType(released), failed: countByType(failed) };
}

export function claimTasks(db: SqliteDb, request: ClaimRequest): { tasks: Task[]; expired: ExpiredLeases } {
  return db.transaction(
    () => {
      const now = nowIso();
      // Expired leases first, so that their tasks compete for this claim like any pending task.
      const expired = expireLeases(db, now);
      const typeIds = eligibleTypeIds(db, request);
      if (typeIds.length === 0) return { tasks: [], expired };
      const claimed = statements(db)
        .claim(typeIds.length)
        .all({
          ...Object.fromEntries(typeIds.map((id, i) => [`type_${i}`, id])),
          type_ids: JSON.stringify(typeIds),
          now,
          limit: request.limit,
          worker_id: request.worker_id,
          lease_expires_at: addSeconds(now, request.lease_seconds),
        });
      const tasks = claimed.sort(claimOrder);
      return { tasks, expired };
    },
    { behavior: 'immediate' },
  );
}

export function nextClaimableAt(db: SqliteDb, filter: ClaimFilter): string | null {
  const typeIds = JSON.stringify(eligibleTypeIds(db, filter));
  const row = db.get<{ at: string | null }>(sql`SELECT min(at) AS at FROM (
      SELECT min(run_at) AS at FROM task_list
       WHERE status = 'pending' AND task_type_id IN (SELECT value FROM json_each(${typeIds}))
      UNION ALL
      SELECT min(lease_expires_at) AS at FROM task_list
       WHERE status = 'running' AND attempts < max_attempts AND task_type_id IN (SELECT value FROM json_each(${typeIds}))
    )`);
  return row?.at ?? null;
}

/** Why a settle found no task held by `lease`: not found, or LeaseLostError saying why. */
function leaseLost(db: SqliteDb, id: number, lease: Lease): never {
  const current = statements(db).task.get({ id });
  if (!current) throw taskNotFound(id);
  throw leaseLostError(id, lease, current);
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
  return row ?? leaseLost(db, id, lease);
}

const held = (id: number, lease: Lease) => ({ id, lease_id: lease.lease_id, worker_id: lease.worker_id });

export function heartbeatTask(db: SqliteDb, id: number, lease: Lease, leaseSeconds: number): Task {
  const now = nowIso();
  const row = statements(db).heartbeat.get({ ...held(id, lease), now, lease_expires_at: addSeconds(now, leaseSeconds) });
  return row ?? leaseLost(db, id, lease);
}

export function completeTask(db: SqliteDb, id: number, lease: Lease, result: unknown): Task {
  const encoded = result === undefined || result === null ? null : JSON.stringify(result);
  const row = statements(db).complete.get({ ...held(id, lease), now: nowIso(), result: encoded });
  return row ?? leaseLost(db, id, lease);
}

export function failTask(db: SqliteDb, id: number, lease: Lease, errorMessage: string, retry: boolean): Task {
  return db.transaction(
    () => {
      const current = statements(db).task.get({ id });
      if (!current) throw taskNotFound(id);
      const type = statements(db).type.get({ id: current.task_type_id })!;
      return settle(db, id, lease, failChanges(current, type, errorMessage, retry, nowIso()));
    },
    { behavior: 'immediate' },
  );
}

/**
 * Moves a task from one of the `from` statuses with `changes`; ConflictError naming `action`
 * when it is in another status.
 */
function transition(db: SqliteDb, id: number, from: readonly TaskStatus[], changes: Partial<Task>, action: string): Task {
  const row = db
    .update(taskList)
    .set({ ...changes, updated_at: nowIso() })
    .where(and(eq(taskList.id, id), inArray(taskList.status, from)))
    .returning()
    .get();
  if (row) return row;
  const current = db.select({ status: taskList.status }).from(taskList).where(eq(taskList.id, id)).get();
  if (!current) throw taskNotFound(id);
  throw transitionRefused(id, current.status, from, action);
}

export function cancelTask(db: SqliteDb, id: number): Task {
  return transition(db, id, CANCELLABLE, cancelChanges(nowIso()), 'cancelled');
}

export function retryTask(db: SqliteDb, id: number): Task {
  return transition(db, id, RETRYABLE, retryChanges(nowIso()), 'retried');
}

export function sweepExpiredLeases(db: SqliteDb): ExpiredLeases {
  return db.transaction(() => expireLeases(db, nowIso()), { behavior: 'immediate' });
}
