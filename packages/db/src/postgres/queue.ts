/**
 * The queue: claiming under a lease, heartbeats, settling, cancel and retry, and tidying expired
 * leases. A claim is one statement that locks its tasks with FOR UPDATE SKIP LOCKED, so that
 * concurrent claims, from this process or another replica, never wait for each other nor take the
 * same task; a settle is one statement guarded by the worker and the lease.
 */
import { getTableColumns } from 'drizzle-orm';
import { DomainError, taskNotFound } from '../errors.js';
import { countByType, type ExpiredLeases } from '../events.js';
import { CANCELLABLE, RETRYABLE, cancelChanges, checkProgress, claimOrder, failChanges, leaseLost as leaseLostError, retryChanges, transitionRefused } from '../rules/index.js';
import type { ClaimFilter, ClaimRequest, Exchanged, ExchangeRequest, Lease, ProgressReport, SettleOutcome, Settlement } from '../store.js';
import type { Task, TaskStatus } from '../types.js';
import type { PgClient, Queryable } from './client.js';
import { LOCKS } from './database.js';
import { notifying, notifySql } from './notify.js';
import { taskList } from './schema.js';
import { refuseNul, unstorable } from './storage.js';
import { addSeconds, json, list, nowIso, setClause, toTask } from './util.js';

/** The columns of task_list, in table order (what `t.*` gives). */
const TASK_COLUMNS = Object.values(getTableColumns(taskList)).map((column) => column.name);

/** A row of a statement's other results beside task rows: only `kind` and the `kept` columns are set (task_type_id by default). */
const countRow = (kind: string, source: string, kept: readonly string[] = ['task_type_id']) =>
  `SELECT '${kind}', ${TASK_COLUMNS.map((column) => (kept.includes(column) ? column : 'NULL')).join(', ')} FROM ${source}`;

/**
 * The ids of the active types a claim may take, as a CTE `eligible`: `$1` the ids, `$2` the names
 * (JSON lists or NULL). A list that is given but empty matches nothing; either list matching is enough.
 */
const ELIGIBLE = `eligible AS MATERIALIZED (
  SELECT id FROM task_types
   WHERE is_active AND (($1::text::json IS NULL AND $2::text::json IS NULL)
      OR id IN (SELECT value::bigint FROM json_array_elements_text($1::text::json))
      OR name IN (SELECT value FROM json_array_elements_text($2::text::json))))`;

/** The parameters that ELIGIBLE reads. */
function filterParams(filter: ClaimFilter): [string | null, string | null] {
  // A name PostgreSQL cannot store cannot name a type.
  return [list(filter.task_type_ids), list(filter.task_types?.filter((name) => !unstorable(name)))];
}

/**
 * CTEs that end the leases run out by `now` of the rows of CTE `expired` (id, attempts,
 * max_attempts), besides those in `kept` (a subquery of ids): each counts as a failed attempt,
 * so the task goes back to pending (`released`), or becomes failed once its attempts are used up
 * (`failed`). Each returns task_type_id. `notified` sends the notification for the released.
 */
function expiring(now: string, origin: string, kept = 'SELECT NULL::bigint WHERE false'): string {
  return `released AS (
    UPDATE task_list t SET status = 'pending', error_message = 'Lease expired', updated_at = ${now}, lease_expires_at = NULL
      FROM expired x WHERE t.id = x.id AND x.attempts < x.max_attempts AND x.id NOT IN (${kept})
    RETURNING t.task_type_id),
  failed AS (
    UPDATE task_list t SET status = 'failed', error_message = 'Lease expired after ' || t.attempts || ' of ' || t.max_attempts || ' attempts',
           completed_at = ${now}, updated_at = ${now}, lease_expires_at = NULL
      FROM expired x WHERE t.id = x.id AND x.attempts >= x.max_attempts
    RETURNING t.task_type_id),
  notified AS (${notifySql('SELECT task_type_id, count(*) AS n FROM released GROUP BY task_type_id', origin)})`;
}

/**
 * The running tasks whose lease ran out by `now`, locked, skipping those another transaction holds,
 * besides those in `kept` (a subquery of ids): CTE `expired`.
 */
const expiredCte = (now: string, kept = 'SELECT NULL::bigint WHERE false') => `expired AS MATERIALIZED (
  SELECT id, task_type_id, priority, run_at, attempts, max_attempts FROM task_list
   WHERE status = 'running' AND lease_expires_at <= ${now} AND id NOT IN (${kept})
   FOR UPDATE SKIP LOCKED)`;

/**
 * The claim. Expired leases first end (see `expiring`), and those with attempts left compete for
 * this claim like any pending task; each eligible type's due tasks come from its own index, best
 * first, so that a large backlog of another type is never read. A new attempt starts with no
 * progress. $3 now, $4 limit, $5 worker,
 * $6 the lease's expiry, $7 this store's origin (for the notification). `before`: CTEs that come
 * first, and `settling` the ids of tasks they settle, which no expiry may touch; `rows`: more
 * result rows.
 */
const claimStatement = ({ before = '', settling, rows = '' }: { before?: string; settling?: string; rows?: string } = {}) => `WITH ${before}${ELIGIBLE},
  ${expiredCte('$3', settling)},
  due AS MATERIALIZED (
    SELECT p.id, p.priority, p.run_at FROM eligible e CROSS JOIN LATERAL (
      SELECT id, priority, run_at FROM task_list
       WHERE status = 'pending' AND task_type_id = e.id AND run_at <= $3
       ORDER BY priority, run_at, id LIMIT $4
       FOR UPDATE SKIP LOCKED) AS p),
  chosen AS MATERIALIZED (
    SELECT id FROM (
      SELECT id, priority, run_at FROM due
      UNION ALL
      SELECT id, priority, run_at FROM expired WHERE attempts < max_attempts AND task_type_id IN (SELECT id FROM eligible)
    ) AS candidates ORDER BY priority, run_at, id LIMIT $4),
  ${expiring('$3', '$7', 'SELECT id FROM chosen')},
  claimed AS (
    UPDATE task_list t SET status = 'running', attempts = t.attempts + 1, worker_id = $5,
           lease_id = replace(gen_random_uuid()::text, '-', ''), lease_expires_at = $6, started_at = $3, updated_at = $3,
           progress = NULL, progress_message = NULL,
           error_message = CASE WHEN t.status = 'running' THEN 'Lease expired' ELSE t.error_message END
      FROM chosen c WHERE t.id = c.id
    RETURNING t.*)
SELECT 'claimed' AS kind, claimed.* FROM claimed
UNION ALL ${countRow('reclaimed', 'expired WHERE id IN (SELECT id FROM chosen)')}
UNION ALL ${countRow('released', 'released')}
UNION ALL ${countRow('failed', 'failed')}
UNION ALL ${countRow('notified', '(SELECT NULL::bigint AS task_type_id FROM notified) AS sent')}${rows}`;

const CLAIM = claimStatement();

/**
 * An exchange with completions and no failure, in one statement (so one round trip and one
 * implicit transaction): the held leases of $8 (a JSON list of {id, lease_id, result}, the
 * result as JSON text) are completed, then the claim runs as CLAIM does with $1 to $7; rows of
 * kind `completed` give each completed task's id, type and lease.
 */
const COMPLETE_AND_CLAIM = claimStatement({
  before: `input AS MATERIALIZED (SELECT * FROM json_to_recordset($8::text::json) AS v(id bigint, lease_id text, result text)),
  completed AS (
    UPDATE task_list t SET status = 'completed', result = v.result, completed_at = $3, updated_at = $3, lease_expires_at = NULL
      FROM input v WHERE t.id = v.id AND t.status = 'running' AND t.lease_id = v.lease_id AND t.worker_id = $5
    RETURNING t.id, t.task_type_id, t.lease_id),
  `,
  settling: 'SELECT id FROM input',
  rows: `
UNION ALL ${countRow('completed', 'completed', ['id', 'task_type_id', 'lease_id'])}`,
});

/** What a statement that ends expired leases did, from its rows of kind released, reclaimed and failed. */
function expiredOf(rows: { kind: string; task_type_id: number }[]): ExpiredLeases {
  return {
    released: countByType(rows.filter((row) => row.kind === 'released' || row.kind === 'reclaimed')),
    failed: countByType(rows.filter((row) => row.kind === 'failed')),
  };
}

/** CLAIM's parameters $1 to $7 (COMPLETE_AND_CLAIM's too). */
function claimParams(request: ClaimRequest, origin: string): unknown[] {
  const now = nowIso();
  return [...filterParams(request), now, request.limit, request.worker_id, addSeconds(now, request.lease_seconds), origin];
}

/** The tasks a claim leased, from its rows of kind `claimed`, in claim order. */
const claimedOf = (rows: { kind: string }[]): Task[] =>
  rows
    .filter((row) => row.kind === 'claimed')
    .map(({ kind: _kind, ...task }) => toTask(task))
    .sort(claimOrder);

export async function claimTasks(db: Queryable, request: ClaimRequest, origin: string): Promise<{ tasks: Task[]; expired: ExpiredLeases }> {
  refuseNul({ worker_id: request.worker_id });
  const rows = await db.query<{ kind: string; task_type_id: number }>(CLAIM, claimParams(request, origin));
  return { tasks: claimedOf(rows), expired: expiredOf(rows) };
}

/**
 * Completes many held leases in one statement: $1 a JSON list of {id, lease_id, result} (the
 * result as JSON text), $2 now, $3 the worker. Returns the id, type and lease of each it settled.
 */
const COMPLETE_MANY = `UPDATE task_list t SET status = 'completed', result = v.result, completed_at = $2, updated_at = $2, lease_expires_at = NULL
    FROM json_to_recordset($1::text::json) AS v(id bigint, lease_id text, result text)
   WHERE t.id = v.id AND t.status = 'running' AND t.lease_id = v.lease_id AND t.worker_id = $3
  RETURNING t.id, t.task_type_id, t.lease_id`;

type ExchangeWrite = Exchanged & { expired: ExpiredLeases };

/**
 * Settles each of `request.settle`, refusals kept as outcomes, then claims when `limit` > 0, all
 * in one transaction: completions alone go with the claim in one statement (COMPLETE_AND_CLAIM);
 * with failures to settle, one statement after another in a transaction.
 */
export async function exchange(db: PgClient, request: ExchangeRequest, origin: string): Promise<ExchangeWrite> {
  refuseNul({ worker_id: request.worker_id });
  if (request.settle.some((settlement) => settlement.outcome === 'failed')) return db.transaction((tx) => settleThenClaim(tx, request, origin));
  const input = completionsInput(request);
  const rows =
    request.limit > 0
      ? await db.query<{ kind: string; id: number; task_type_id: number; lease_id: string }>(COMPLETE_AND_CLAIM, [...claimParams(request, origin), input])
      : input === null
        ? []
        : (await db.query<{ id: number; task_type_id: number; lease_id: string }>(COMPLETE_MANY, [input, nowIso(), request.worker_id])).map((row) => ({ kind: 'completed', ...row }));
  const settled = await settledOutcomes(db, request, rows.filter((row) => row.kind === 'completed'));
  return { settled, tasks: claimedOf(rows), expired: expiredOf(rows) };
}

/** The completions of an exchange as COMPLETE_MANY and COMPLETE_AND_CLAIM read them, or null for none; a lease PostgreSQL cannot store is held by no one. */
function completionsInput(request: ExchangeRequest): string | null {
  if (unstorable(request.worker_id)) return null;
  const values = request.settle.flatMap((settlement) =>
    settlement.outcome === 'completed' && !unstorable(settlement.lease_id)
      ? [{ id: settlement.task_id, lease_id: settlement.lease_id, result: json(settlement.result) }]
      : [],
  );
  return values.length ? JSON.stringify(values) : null;
}

/**
 * The outcome of each completion of `request`, in order, from the rows of those completed (id,
 * type, lease); why not for the others: each is looked up (LeaseLostError, NotFoundError). The
 * same task twice finds it completed the second time.
 */
async function settledOutcomes(db: Queryable, request: ExchangeRequest, completed: { id: number; task_type_id: number; lease_id: string }[]): Promise<SettleOutcome[]> {
  const key = (id: number | string, leaseId: string) => `${id} ${leaseId}`;
  const done = new Map(completed.map((row) => [key(row.id, row.lease_id), row.task_type_id]));
  const settled: SettleOutcome[] = [];
  for (const settlement of request.settle) {
    if (settlement.outcome !== 'completed') continue;
    const taskTypeId = done.get(key(settlement.task_id, settlement.lease_id));
    done.delete(key(settlement.task_id, settlement.lease_id));
    if (taskTypeId !== undefined) settled.push({ task_id: settlement.task_id, task_type_id: taskTypeId, status: 'completed' });
    else settled.push(await leaseLost(db, settlement.task_id, { worker_id: request.worker_id, lease_id: settlement.lease_id }).catch((error: unknown) => refusal(settlement, error)));
  }
  return settled;
}

/** A settlement refused with a domain error, as an outcome; any other error is thrown. */
function refusal(settlement: Settlement, error: unknown): SettleOutcome {
  if (error instanceof DomainError) return { task_id: settlement.task_id, error };
  throw error;
}

/** The exchange with failures to settle: completions, failures in order, then the claim, inside the caller's transaction. */
async function settleThenClaim(tx: Queryable, request: ExchangeRequest, origin: string): Promise<ExchangeWrite> {
  const input = completionsInput(request);
  const completed = input === null ? [] : await tx.query<{ id: number; task_type_id: number; lease_id: string }>(COMPLETE_MANY, [input, nowIso(), request.worker_id]);
  const completions = await settledOutcomes(tx, request, completed);
  const settled: SettleOutcome[] = [];
  for (const settlement of request.settle) {
    if (settlement.outcome === 'completed') {
      settled.push(completions.shift()!);
      continue;
    }
    try {
      const lease = { worker_id: request.worker_id, lease_id: settlement.lease_id };
      const task = await failTask(tx, settlement.task_id, lease, settlement.error_message, settlement.retry, origin);
      settled.push({ task_id: task.id, task_type_id: task.task_type_id, status: task.status });
    } catch (error) {
      settled.push(refusal(settlement, error));
    }
  }
  if (request.limit <= 0) return { settled, tasks: [], expired: { released: new Map(), failed: new Map() } };
  return { settled, ...(await claimTasks(tx, request, origin)) };
}

/**
 * Ends every lease run out by now, one replica at a time: nothing at once while another holds the
 * sweep lock (it is doing the same).
 */
export async function sweepExpiredLeases(db: PgClient, origin: string): Promise<ExpiredLeases> {
  return db.transaction(async (tx) => {
    const [lock] = await tx.query<{ held: boolean }>('SELECT pg_try_advisory_xact_lock($1) AS held', [LOCKS.sweep]);
    if (!lock!.held) return { released: new Map(), failed: new Map() };
    const rows = await tx.query<{ kind: string; task_type_id: number }>(
      `WITH ${expiredCte('$1')}, ${expiring('$1', '$2')}
       SELECT 'released' AS kind, task_type_id FROM released
       UNION ALL SELECT 'failed', task_type_id FROM failed
       UNION ALL SELECT 'notified', NULL FROM notified`,
      [nowIso(), origin],
    );
    return expiredOf(rows);
  });
}

export async function nextClaimableAt(db: Queryable, filter: ClaimFilter): Promise<string | null> {
  const [row] = await db.query<{ at: string | null }>(
    `WITH ${ELIGIBLE}
     SELECT least(
       -- Each type's pending tasks from its own index, as the claim reads them.
       (SELECT min(first.at) FROM eligible e CROSS JOIN LATERAL (
          SELECT min(run_at) AS at FROM task_list WHERE status = 'pending' AND task_type_id = e.id) AS first),
       (SELECT min(lease_expires_at) FROM task_list WHERE status = 'running' AND attempts < max_attempts AND task_type_id IN (SELECT id FROM eligible))
     ) AS at`,
    filterParams(filter),
  );
  return row?.at ?? null;
}

/** Why a settle found no task held by `lease`: not found, or LeaseLostError saying why. */
async function leaseLost(db: Queryable, id: number, lease: Lease): Promise<never> {
  const [current] = await db.query<Pick<Task, 'status' | 'lease_id'>>('SELECT status, lease_id FROM task_list WHERE id = $1', [id]);
  if (!current) throw taskNotFound(id);
  throw leaseLostError(id, lease, current);
}

/**
 * Applies `changes` to a task only while `lease` still holds it; else says why not. `notify`:
 * this store's origin when the task becomes claimable (later: waiting claims set their timers).
 */
async function settle(db: Queryable, id: number, lease: Lease, changes: Partial<Task>, now: string, notify?: string): Promise<Task> {
  // A lease PostgreSQL cannot store is held by no one.
  if (unstorable(lease.lease_id) || unstorable(lease.worker_id)) return leaseLost(db, id, lease);
  const { set, params } = setClause({ ...changes, updated_at: now }, 4);
  let statement = `UPDATE task_list SET ${set} WHERE id = $1 AND status = 'running' AND lease_id = $2 AND worker_id = $3 RETURNING *`;
  if (notify !== undefined) statement = notifying(statement, `$${4 + params.length}`, '0');
  const [row] = await db.query(statement, [id, lease.lease_id, lease.worker_id, ...params, ...(notify === undefined ? [] : [notify])]);
  return row ? toTask(row) : leaseLost(db, id, lease);
}

/** Extends a held lease; a report sets the progress and its message (none clears it), as one write. */
export async function heartbeatTask(db: Queryable, id: number, lease: Lease, leaseSeconds: number, report?: ProgressReport): Promise<Task> {
  if (report) {
    checkProgress(report);
    refuseNul({ message: report.message });
  }
  const now = nowIso();
  const progress = report ? { progress: report.progress, progress_message: report.message ?? null } : {};
  return settle(db, id, lease, { lease_expires_at: addSeconds(now, leaseSeconds), ...progress }, now);
}

export function completeTask(db: Queryable, id: number, lease: Lease, result: unknown): Promise<Task> {
  const now = nowIso();
  return settle(db, id, lease, { status: 'completed', result: result ?? null, completed_at: now, lease_expires_at: null }, now);
}

/** Settles as failed, or back to pending after the type's backoff (then waiting claims are told, to set their timers). */
export async function failTask(db: Queryable, id: number, lease: Lease, errorMessage: string, retry: boolean, origin: string): Promise<Task> {
  refuseNul({ error_message: errorMessage });
  const [current] = await db.query<Pick<Task, 'attempts' | 'max_attempts'> & { retry_base_seconds: number; retry_max_seconds: number }>(
    `SELECT t.attempts, t.max_attempts, ty.retry_base_seconds, ty.retry_max_seconds
       FROM task_list t JOIN task_types ty ON ty.id = t.task_type_id WHERE t.id = $1`,
    [id],
  );
  if (!current) throw taskNotFound(id);
  // Attempts cannot change while the lease holds: only a claim changes them, and it ends the lease.
  const now = nowIso();
  const changes = failChanges(current, current, errorMessage, retry, now);
  return settle(db, id, lease, changes, now, changes.status === 'pending' ? origin : undefined);
}

/**
 * Moves a task from one of the `from` statuses with `changes`; ConflictError naming `action`
 * when it is in another status. `origin`: it becomes claimable, and waiting claims are told.
 */
async function transition(db: Queryable, id: number, from: readonly TaskStatus[], changes: Partial<Task>, action: string, origin?: string): Promise<Task> {
  const { set, params } = setClause({ ...changes, updated_at: nowIso() }, 3);
  let statement = `UPDATE task_list SET ${set} WHERE id = $1 AND status IN (SELECT value FROM json_array_elements_text($2::text::json)) RETURNING *`;
  if (origin !== undefined) statement = notifying(statement, `$${3 + params.length}`);
  const [row] = await db.query(statement, [id, JSON.stringify(from), ...params, ...(origin === undefined ? [] : [origin])]);
  if (row) return toTask(row);
  const [current] = await db.query<{ status: TaskStatus }>('SELECT status FROM task_list WHERE id = $1', [id]);
  if (!current) throw taskNotFound(id);
  throw transitionRefused(id, current.status, from, action);
}

export function cancelTask(db: Queryable, id: number): Promise<Task> {
  return transition(db, id, CANCELLABLE, cancelChanges(nowIso()), 'cancelled');
}

export function retryTask(db: Queryable, id: number, origin: string): Promise<Task> {
  return transition(db, id, RETRYABLE, retryChanges(nowIso()), 'retried', origin);
}

/** The active types with tasks claimable now: due and pending, or running with an expired lease and attempts left. */
export function claimableTypes(db: Queryable): Promise<{ id: number; name: string }[]> {
  return db.query(
    `SELECT ty.id, ty.name FROM task_types ty
      WHERE ty.is_active AND (
        (SELECT min(run_at) FROM task_list WHERE status = 'pending' AND task_type_id = ty.id) <= $1
        OR ty.id IN (SELECT task_type_id FROM task_list WHERE status = 'running' AND lease_expires_at <= $1 AND attempts < max_attempts))`,
    [nowIso()],
  );
}
