/**
 * The queue: claiming under a lease, heartbeats, settling, cancel and retry, and tidying
 * expired leases. Each function is one transaction; claims are a single UPDATE … RETURNING.
 */
import { and, eq, inArray, sql } from 'drizzle-orm';
import { DomainError, taskNotFound } from '../errors.js';
import { countByType, type ExpiredLeases } from '../events.js';
import { CANCELLABLE, RETRYABLE, cancelChanges, checkProgress, claimOrder, failChanges, leaseLost as leaseLostError, retryChanges, transitionRefused } from '../rules/index.js';
import { taskList, taskTypes } from '../schema.js';
import type { ClaimFilter, ClaimRequest, Exchanged, ExchangeRequest, Lease, ProgressReport, SettleOutcome, Settlement } from '../store.js';
import type { Task, TaskStatus } from '../types.js';
import type { SqliteDb } from './database.js';
import { json, toTask } from '../util.js';
import { addSeconds, nowIso, preparedPer } from './util.js';

/** Up to this many eligible types, a claim walks each type's pending index; beyond, one scan. */
const MAX_TYPES_PER_CLAIM_UNION = 50;

/**
 * The ids of pending, due tasks of the eligible types, best first: priority, then run_at, then id.
 * Each type's best come from its own index, so a large backlog of another type is never read.
 * Parameters: @now, @limit, and @type_0… (or @type_ids, a JSON list, beyond the union's size).
 */
function claimCandidates(typeCount: number): string {
  if (typeCount > MAX_TYPES_PER_CLAIM_UNION) {
    return `SELECT id FROM task_list
       WHERE status = 'pending' AND run_at <= @now AND task_type_id IN (SELECT value FROM json_each(@type_ids))
       ORDER BY priority, run_at, id LIMIT @limit`;
  }
  const perType = Array.from(
    { length: typeCount },
    (_, i) => `SELECT * FROM (SELECT id, priority, run_at FROM task_list
       WHERE status = 'pending' AND task_type_id = @type_${i} AND run_at <= @now
       ORDER BY priority, run_at, id LIMIT @limit)`,
  );
  return `SELECT id FROM (${perType.join(' UNION ALL ')}) ORDER BY priority, run_at, id LIMIT @limit`;
}

/**
 * The claim for `typeCount` eligible types (its plan is checked in a test); @worker_id and
 * @lease_expires_at besides claimCandidates'. A new attempt starts with no progress.
 */
export const claimSql = (typeCount: number) => `UPDATE task_list
    SET status = 'running', attempts = attempts + 1, worker_id = @worker_id, lease_id = lower(hex(randomblob(16))),
        lease_expires_at = @lease_expires_at, started_at = @now, updated_at = @now, progress = NULL, progress_message = NULL
  WHERE id IN (${claimCandidates(Math.min(typeCount, MAX_TYPES_PER_CLAIM_UNION + 1))})
  RETURNING *`;

/** A held lease: the task, running, leased to the worker under the lease id. */
const HELD = `id = @id AND status = 'running' AND lease_id = @lease_id AND worker_id = @worker_id`;
const EXPIRED = `status = 'running' AND lease_expires_at <= @now`;
/** Completes a held lease with @result at @now. */
const COMPLETE = `UPDATE task_list SET status = 'completed', result = @result, completed_at = @now, updated_at = @now, lease_expires_at = NULL
  WHERE ${HELD}`;

/**
 * The queue's statements, written in SQL and run on better-sqlite3 directly: they run for every
 * task, several times over, and rows come back as the driver reads them (JSON columns parsed by
 * toTask), without a mapping layer in between.
 */
const statements = preparedPer((db: SqliteDb) => {
  const client = db.$client;
  const claims = new Map<number, Statement>();
  return {
    activeTypes: client.prepare<[], { id: number }>(`SELECT id FROM task_types WHERE is_active = 1`),
    // A list that is given but empty matches nothing; either list matching is enough.
    activeTypesIn: client.prepare<[{ ids: string | null; names: string | null }], { id: number }>(
      `SELECT id FROM task_types WHERE is_active = 1
          AND (id IN (SELECT value FROM json_each(@ids)) OR name IN (SELECT value FROM json_each(@names)))`,
    ),
    /** The claim for a number of eligible types, prepared on first use. */
    claim(typeCount: number): Statement {
      const key = Math.min(typeCount, MAX_TYPES_PER_CLAIM_UNION + 1);
      let statement = claims.get(key);
      if (!statement) claims.set(key, (statement = client.prepare(claimSql(key))));
      return statement;
    },
    expireFailed: client.prepare<[{ now: string }], { task_type_id: number }>(
      `UPDATE task_list SET status = 'failed', error_message = 'Lease expired after ' || attempts || ' of ' || max_attempts || ' attempts',
              completed_at = @now, updated_at = @now, lease_expires_at = NULL
        WHERE ${EXPIRED} AND attempts >= max_attempts RETURNING task_type_id`,
    ),
    expireReleased: client.prepare<[{ now: string }], { task_type_id: number }>(
      `UPDATE task_list SET status = 'pending', error_message = 'Lease expired', updated_at = @now, lease_expires_at = NULL
        WHERE ${EXPIRED} RETURNING task_type_id`,
    ),
    task: db.select().from(taskList).where(eq(taskList.id, sql.placeholder('id'))).prepare(),
    type: db.select().from(taskTypes).where(eq(taskTypes.id, sql.placeholder('id'))).prepare(),
    /** Extends a held lease; with a @progress (not NULL), sets it and @message (a report: see QueueStore.heartbeatTask). */
    nextClaimable: client.prepare<[{ type_ids: string }], { at: string | null }>(NEXT_CLAIMABLE_SQL),
    heartbeat: client.prepare<[Held & { now: string; lease_expires_at: string; progress: number | null; message: string | null }], object>(
      `UPDATE task_list SET lease_expires_at = @lease_expires_at, updated_at = @now,
              progress = coalesce(@progress, progress), progress_message = CASE WHEN @progress IS NULL THEN progress_message ELSE @message END
        WHERE ${HELD} RETURNING *`,
    ),
    complete: client.prepare<[Held & { now: string; result: string | null }], object>(`${COMPLETE} RETURNING *`),
    /** The same, answering only what an exchange reports. */
    completeLean: client.prepare<[Held & { now: string; result: string | null }], { id: number; task_type_id: number; status: TaskStatus }>(
      `${COMPLETE} RETURNING id, task_type_id, status`,
    ),
  };
});

type Statement = ReturnType<SqliteDb['$client']['prepare']>;
interface Held {
  id: number;
  lease_id: string;
  worker_id: string;
}

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

/** Leases up to `request.limit` claimable tasks, inside the caller's transaction. */
function claim(db: SqliteDb, request: ClaimRequest): { tasks: Task[]; expired: ExpiredLeases } {
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
    })
    .map((row) => toTask(row as object));
  return { tasks: claimed.sort(claimOrder), expired };
}

export function claimTasks(db: SqliteDb, request: ClaimRequest): { tasks: Task[]; expired: ExpiredLeases } {
  return db.transaction(() => claim(db, request), { behavior: 'immediate' });
}

/** What an exchange did: see QueueStore.exchange; `expired` as for claimTasks. */
export interface ExchangeWrite extends Exchanged {
  expired: ExpiredLeases;
}

/** Settles each of `request.settle`, refusals kept as outcomes, then claims when `limit` > 0; one transaction. */
export function exchange(db: SqliteDb, request: ExchangeRequest): ExchangeWrite {
  return db.transaction(
    () => {
      const lease = (settlement: Settlement): Lease => ({ worker_id: request.worker_id, lease_id: settlement.lease_id });
      const now = nowIso();
      const settled = request.settle.map((settlement): SettleOutcome => {
        try {
          const { task_id, lease_id } = settlement;
          const task =
            settlement.outcome === 'completed'
              ? (statements(db).completeLean.get({ id: task_id, lease_id, worker_id: request.worker_id, now, result: json(settlement.result) }) ??
                leaseLost(db, task_id, lease(settlement)))
              : failAttempt(db, task_id, lease(settlement), settlement.error_message, settlement.retry);
          return { task_id: task.id, task_type_id: task.task_type_id, status: task.status };
        } catch (error) {
          if (error instanceof DomainError) return { task_id: settlement.task_id, error };
          throw error;
        }
      });
      if (request.limit <= 0) return { settled, tasks: [], expired: { released: new Map(), failed: new Map() } };
      return { settled, ...claim(db, request) };
    },
    { behavior: 'immediate' },
  );
}

/**
 * When the next task of the types (@type_ids, a JSON list) comes due. Called when a claim found
 * nothing due: the pending tasks of these types, if any, are scheduled for later, and each type's
 * are read through its own pending index. Named, because the list's index on (status, run_at)
 * looks cheaper to the planner, and walks every pending task of every other type in search of one
 * of these (15 ms a claim behind a backlog of 100,000). Its plan is checked in a test.
 */
export const NEXT_CLAIMABLE_SQL = `SELECT min(at) AS at FROM (
    SELECT min(run_at) AS at FROM task_list INDEXED BY task_list_pending_type_idx
     WHERE status = 'pending' AND task_type_id IN (SELECT value FROM json_each(@type_ids))
    UNION ALL
    SELECT min(lease_expires_at) AS at FROM task_list
     WHERE status = 'running' AND attempts < max_attempts AND task_type_id IN (SELECT value FROM json_each(@type_ids))
  )`;

export function nextClaimableAt(db: SqliteDb, filter: ClaimFilter): string | null {
  const row = statements(db).nextClaimable.get({ type_ids: JSON.stringify(eligibleTypeIds(db, filter)) });
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

export function heartbeatTask(db: SqliteDb, id: number, lease: Lease, leaseSeconds: number, report?: ProgressReport): Task {
  if (report) checkProgress(report);
  const now = nowIso();
  const row = statements(db).heartbeat.get({
    ...held(id, lease),
    now,
    lease_expires_at: addSeconds(now, leaseSeconds),
    progress: report?.progress ?? null,
    message: report?.message ?? null,
  });
  return row ? toTask(row) : leaseLost(db, id, lease);
}

export function completeTask(db: SqliteDb, id: number, lease: Lease, result: unknown): Task {
  const row = statements(db).complete.get({ ...held(id, lease), now: nowIso(), result: json(result) });
  return row ? toTask(row) : leaseLost(db, id, lease);
}

/** Settles a held lease as failed, inside the caller's transaction. */
function failAttempt(db: SqliteDb, id: number, lease: Lease, errorMessage: string, retry: boolean): Task {
  const current = statements(db).task.get({ id });
  if (!current) throw taskNotFound(id);
  const type = statements(db).type.get({ id: current.task_type_id })!;
  return settle(db, id, lease, failChanges(current, type, errorMessage, retry, nowIso()));
}

export function failTask(db: SqliteDb, id: number, lease: Lease, errorMessage: string, retry: boolean): Task {
  return db.transaction(() => failAttempt(db, id, lease, errorMessage, retry), { behavior: 'immediate' });
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
