import { taskNotFound } from '../errors.js';
import { FINISHED_STATUSES, manualStatusChanges } from '../rules/index.js';
import type { CreatedTask, TaskCreate, TaskUpdate } from '../store.js';
import { typeVersion } from '../parameters.js';
import type { Task, TaskType } from '../types.js';
import {
  admitCreate,
  collectProblems,
  parametersToCheck as sharedParametersToCheck,
  requireChecked,
  type CheckedParameters,
  type NewTaskValues,
  type ParametersToCheck,
} from '../validation.js';
import type { PgClient, Queryable } from './client.js';
import { LOCKS } from './database.js';
import { notifying } from './notify.js';
import { refuseNul } from './storage.js';
import { typesByIds } from './task-types.js';
import { json, nowIso, setClause, toTask, toTaskType, withoutUndefined } from './util.js';

/** Sends, inside a write, the notification that tasks of these types (count by type) may have become claimable. */
export type Notify = (tx: Queryable, claimable: Map<number, number>) => Promise<void>;

/** The key of an idempotency key within its type. */
const keyOf = (typeId: number, key: string) => `${typeId}\0${key}`;

/** The tasks that already have the idempotency keys of `inputs`, by keyOf. */
async function tasksByKeys(db: Queryable, inputs: readonly TaskCreate[]): Promise<Map<string, Task>> {
  const keys = inputs.filter((input) => input.idempotency_key !== undefined).map((input) => ({ t: input.task_type_id, k: input.idempotency_key }));
  if (keys.length === 0) return new Map();
  const rows = await db.query(
    `SELECT t.* FROM task_list t JOIN json_to_recordset($1::text::json) AS k(t bigint, k text) ON t.task_type_id = k.t AND t.idempotency_key = k.k`,
    [JSON.stringify(keys)],
  );
  return new Map(rows.map(toTask).map((task) => [keyOf(task.task_type_id, task.idempotency_key!), task]));
}

/** Refuses text that PostgreSQL cannot keep (see refuseNul), under each create's place in the request. */
export function refuseNulInCreates(inputs: readonly TaskCreate[], batch: boolean): void {
  collectProblems(inputs, (input, index) => refuseNul({ idempotency_key: input.idempotency_key }, batch ? ['tasks', index] : []));
}

/**
 * Outside any transaction, before the write: which of `inputs` the write will need validated
 * parameters for, as things stand (see validation.parametersToCheck). `types` may answer some
 * types from memory: a type that has changed since is caught inside the write (TypeChangedError).
 */
export async function parametersToCheck(db: Queryable, inputs: TaskCreate[], types: Map<number, TaskType> = new Map()): Promise<ParametersToCheck[]> {
  const missing = inputs.map((input) => input.task_type_id).filter((id) => !types.has(id));
  const [read, taken] = await Promise.all([missing.length ? typesByIds(db, missing) : new Map<number, TaskType>(), tasksByKeys(db, inputs)]);
  for (const [id, type] of read) types.set(id, type);
  return sharedParametersToCheck(inputs, { type: (id) => types.get(id), keyTaken: (typeId, key) => taken.has(keyOf(typeId, key)) });
}

/** Outside any transaction, before the write: the type of a task, if the task exists. */
export async function typeOfTask(db: Queryable, id: number): Promise<TaskType | undefined> {
  const [row] = await db.query('SELECT ty.* FROM task_types ty JOIN task_list t ON t.task_type_id = ty.id WHERE t.id = $1', [id]);
  return row && toTaskType(row);
}

/** What a create came to: the task that already had its key, or the task inserted for this create or an earlier one of the batch with the same key. */
type Answer = CreatedTask | { sameAs: number };

/** Inserts the new tasks of a write, in order, skipping any whose idempotency key another write has taken meanwhile. */
async function insertTasks(tx: Queryable, rows: { index: number; values: NewTaskValues }[]): Promise<Task[]> {
  if (rows.length === 0) return [];
  const inserted = await tx.query(
    `INSERT INTO task_list (task_type_id, parameters, priority, metadata, created_at, run_at, max_attempts, idempotency_key)
     SELECT r.task_type_id, r.parameters, r.priority, r.metadata, r.created_at, r.run_at, r.max_attempts, r.idempotency_key
       FROM json_to_recordset($1::text::json)
         AS r(ord integer, task_type_id bigint, parameters text, priority integer, metadata text, created_at text, run_at text, max_attempts integer, idempotency_key text)
      ORDER BY r.ord
     ON CONFLICT (task_type_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
     RETURNING *`,
    [JSON.stringify(rows.map(({ values }, ord) => ({ ...values, ord, parameters: json(values.parameters), metadata: json(values.metadata) })))],
  );
  return inserted.map(toTask).sort((a, b) => a.id - b.id);
}

/**
 * Creates tasks in one transaction, all or none (see TaskRecordStore.createTask and createTasks):
 * each input's answer, in order. `checked`: the parameters validated before the write, by index
 * into `inputs`; `batch`: problems are reported under `tasks.<index>`.
 */
export async function createTasks(
  db: PgClient,
  inputs: TaskCreate[],
  checked: ReadonlyMap<number, CheckedParameters>,
  batch: boolean,
  notify: Notify,
): Promise<CreatedTask[]> {
  return db.transaction(async (tx) => {
    // Share-locked: a type cannot change between the check of the parameters against it and the commit.
    const types = await typesByIds(tx, inputs.map((input) => input.task_type_id), true);
    const existing = await tasksByKeys(tx, inputs);
    const now = nowIso();
    const firstWithKey = new Map<string, number>();
    const fresh: { index: number; values: NewTaskValues }[] = [];
    const admit = (input: TaskCreate, index: number): Answer => {
      const key = input.idempotency_key === undefined ? undefined : keyOf(input.task_type_id, input.idempotency_key);
      // The same key earlier in the batch: that task, as SQLite finds it once inserted.
      const earlier = key === undefined ? undefined : firstWithKey.get(key);
      if (earlier !== undefined && types.has(input.task_type_id)) return { sameAs: earlier };
      const admitted = admitCreate(input, types.get(input.task_type_id), key === undefined ? undefined : existing.get(key), checked.get(index), now);
      if ('existing' in admitted) return { task: admitted.existing, created: false };
      if (key !== undefined) firstWithKey.set(key, index);
      fresh.push({ index, values: admitted.values });
      return { sameAs: index };
    };
    const answers = batch ? collectProblems(inputs, admit) : [admit(inputs[0]!, 0)];

    const inserted = await insertTasks(tx, fresh);
    const byIndex = new Map<number, CreatedTask>();
    // Ids follow the order of insertion: those without a key never conflict, and come back in it.
    const keyless = inserted.filter((task) => task.idempotency_key === null).values();
    const keyed = new Map(inserted.filter((task) => task.idempotency_key !== null).map((task) => [keyOf(task.task_type_id, task.idempotency_key!), task]));
    const taken: TaskCreate[] = [];
    for (const { index, values } of fresh) {
      const task = values.idempotency_key === null ? keyless.next().value : keyed.get(keyOf(values.task_type_id, values.idempotency_key));
      if (task) byIndex.set(index, { task, created: true });
      else taken.push(inputs[index]!);
    }
    // Another write committed the same key meanwhile: its task is the answer.
    if (taken.length) {
      const theirs = await tasksByKeys(tx, taken);
      for (const { index, values } of fresh) {
        if (!byIndex.has(index)) byIndex.set(index, { task: theirs.get(keyOf(values.task_type_id, values.idempotency_key!))!, created: false });
      }
    }
    const created = [...byIndex.values()].filter((answer) => answer.created).map((answer) => answer.task);
    if (created.length) await notify(tx, countsByType(created));
    return answers.map((answer, index) => {
      if (!('sameAs' in answer)) return answer;
      const first = byIndex.get(answer.sameAs)!;
      return answer.sameAs === index ? first : { task: first.task, created: false };
    });
  });
}

/** The columns a create inserts, and their parameters from `values` numbered from `first`. */
const INSERTED = ['task_type_id', 'parameters', 'priority', 'metadata', 'created_at', 'run_at', 'max_attempts', 'idempotency_key'] as const;

/**
 * The usual create in one statement, with no transaction of its own: a new task of a type as
 * `type` was (read earlier, perhaps by this process) and still is, active and at the version its
 * parameters were checked against, with no task yet with its idempotency key. The type is
 * share-locked by the statement, as createTasks locks it. Undefined when any of that does not
 * hold: createTasks then finds out why, and answers.
 */
export async function createTaskAtOnce(
  db: Queryable,
  input: TaskCreate,
  type: TaskType,
  checked: CheckedParameters | undefined,
  origin: string,
): Promise<CreatedTask | undefined> {
  if (!type.is_active || (checked?.problems.length ?? 0) > 0) return undefined;
  const admitted = admitCreate(input, type, undefined, checked, nowIso());
  if (!('values' in admitted)) return undefined;
  const values: Record<string, unknown> = { ...admitted.values, parameters: json(admitted.values.parameters), metadata: json(admitted.values.metadata) };
  const statement = `INSERT INTO task_list (${INSERTED.join(', ')})
    SELECT ${INSERTED.map((_, i) => `$${i + 3}`).join(', ')}
      FROM (SELECT id FROM task_types WHERE id = $1 AND is_active AND coalesce(updated_at, created_at) = $2 FOR SHARE) AS type
    ON CONFLICT (task_type_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
    RETURNING *`;
  const [row] = await db.query(notifying(statement, `$${INSERTED.length + 3}`), [type.id, typeVersion(type), ...INSERTED.map((column) => values[column]), origin]);
  return row && { task: toTask(row), created: true };
}

function countsByType(tasks: readonly Task[]): Map<number, number> {
  const counts = new Map<number, number>();
  for (const task of tasks) counts.set(task.task_type_id, (counts.get(task.task_type_id) ?? 0) + 1);
  return counts;
}

export async function getTask(db: Queryable, id: number): Promise<Task> {
  const [row] = await db.query('SELECT * FROM task_list WHERE id = $1', [id]);
  if (!row) throw taskNotFound(id);
  return toTask(row);
}

/** `checked`: the new parameters, if any, as validated before the write. */
export async function updateTask(db: PgClient, id: number, patch: TaskUpdate, checked: CheckedParameters | undefined, notify: Notify): Promise<Task> {
  refuseNul({ error_message: patch.error_message });
  return db.transaction(async (tx) => {
    const [current] = await tx.query<{ task_type_id: number; status: string }>('SELECT task_type_id, status FROM task_list WHERE id = $1 FOR UPDATE', [id]);
    if (!current) throw taskNotFound(id);
    if (patch.parameters !== undefined) {
      const [type] = await tx.query('SELECT * FROM task_types WHERE id = $1 FOR SHARE', [current.task_type_id]);
      requireChecked(toTaskType(type!), checked);
    }
    const now = nowIso();
    const { set, params } = setClause({ ...withoutUndefined(patch), ...manualStatusChanges(patch.status, now), updated_at: now }, 2);
    const [row] = await tx.query(`UPDATE task_list SET ${set} WHERE id = $1 RETURNING *`, [id, ...params]);
    const task = toTask(row!);
    // Put back to pending by hand: claimable again.
    if (task.status === 'pending' && current.status !== 'pending') await notify(tx, new Map([[task.task_type_id, 1]]));
    return task;
  });
}

export async function deleteTask(db: Queryable, id: number): Promise<void> {
  const rows = await db.query('DELETE FROM task_list WHERE id = $1 RETURNING id', [id]);
  if (rows.length === 0) throw taskNotFound(id);
}

/**
 * Deletes, oldest first, up to `limit` finished tasks that finished before `before`. One replica
 * at a time: 0 at once while another holds the retention lock.
 */
export async function deleteFinishedTasks(db: PgClient, before: string, limit: number): Promise<number> {
  return db.transaction(async (tx) => {
    const [lock] = await tx.query<{ held: boolean }>('SELECT pg_try_advisory_xact_lock($1) AS held', [LOCKS.retention]);
    if (!lock!.held) return 0;
    const [deleted] = await tx.query<{ n: number }>(
      `WITH doomed AS (
         DELETE FROM task_list WHERE id IN (
           SELECT id FROM task_list WHERE status IN (SELECT value FROM json_array_elements_text($1::text::json)) AND completed_at < $2
            ORDER BY completed_at LIMIT $3 FOR UPDATE SKIP LOCKED)
         RETURNING 1)
       SELECT count(*)::int AS n FROM doomed`,
      [JSON.stringify(FINISHED_STATUSES), before, limit],
    );
    return deleted!.n;
  });
}
