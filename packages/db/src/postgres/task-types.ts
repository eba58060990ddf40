import { ConflictError, taskTypeNamedNotFound, taskTypeNotFound } from '../errors.js';
import { checkRetryPolicy, newTaskType } from '../rules/index.js';
import type { TaskTypeCreate, TaskTypeFilter, TaskTypeUpdate } from '../store.js';
import type { TaskType } from '../types.js';
import type { PgClient, Queryable } from './client.js';
import { refuseNul, unstorable } from './storage.js';
import { json, nowIso, setClause, toTaskType, withoutUndefined } from './util.js';

/** The caller has checked `parameters_schema`, before the write and off the main thread (see ParameterValidator). */
export async function createTaskType(db: Queryable, input: TaskTypeCreate): Promise<TaskType> {
  checkRetryPolicy(input);
  refuseNul({ name: input.name, description: input.description });
  const type = newTaskType(input, nowIso());
  // A name that is taken inserts nothing; a create of the same name under way waits for the first to commit.
  const [row] = await db.query(
    `INSERT INTO task_types (name, description, parameters_schema, metadata, is_active, created_at, max_attempts, retry_base_seconds, retry_max_seconds)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
     ON CONFLICT (name) DO NOTHING RETURNING *`,
    [
      type.name,
      type.description,
      json(type.parameters_schema),
      json(type.metadata),
      type.is_active,
      type.created_at,
      type.max_attempts,
      type.retry_base_seconds,
      type.retry_max_seconds,
    ],
  );
  if (!row) throw new ConflictError(`Task type '${input.name}' already exists`);
  return toTaskType(row);
}

export async function listTaskTypes(db: Queryable, filter: TaskTypeFilter): Promise<TaskType[]> {
  // In byte order, as SQLite sorts text, whatever the database's collation.
  const where = filter.include_inactive ? '' : 'WHERE is_active';
  return (await db.query(`SELECT * FROM task_types ${where} ORDER BY name COLLATE "C"`)).map(toTaskType);
}

/** The types with these ids, by id; `lock`: share-locked until the transaction ends, so that none changes meanwhile. */
export async function typesByIds(db: Queryable, ids: Iterable<number>, lock = false): Promise<Map<number, TaskType>> {
  const rows = await db.query(
    `SELECT * FROM task_types WHERE id IN (SELECT value::bigint FROM json_array_elements_text($1::text::json)) ORDER BY id${lock ? ' FOR SHARE' : ''}`,
    [JSON.stringify([...new Set(ids)])],
  );
  return new Map(rows.map(toTaskType).map((type) => [type.id, type]));
}

export async function getTaskTypeByName(db: Queryable, name: string): Promise<TaskType> {
  // A name PostgreSQL cannot store names no type.
  const [row] = unstorable(name) ? [] : await db.query('SELECT * FROM task_types WHERE name = $1', [name]);
  if (!row) throw taskTypeNamedNotFound(name);
  return toTaskType(row);
}

export async function getTaskType(db: Queryable, id: number): Promise<TaskType> {
  const [row] = await db.query('SELECT * FROM task_types WHERE id = $1', [id]);
  if (!row) throw taskTypeNotFound(id);
  return toTaskType(row);
}

/**
 * The caller has checked `parameters_schema`, before the write and off the main thread (see
 * ParameterValidator). `reactivated` runs inside the write when the update switches the type
 * back on: its pending tasks are claimable again.
 */
export async function updateTaskType(
  db: PgClient,
  id: number,
  patch: TaskTypeUpdate,
  reactivated: (tx: Queryable) => Promise<void>,
): Promise<TaskType> {
  refuseNul({ description: patch.description });
  return db.transaction(async (tx) => {
    const [row] = await tx.query('SELECT * FROM task_types WHERE id = $1 FOR UPDATE', [id]);
    if (!row) throw taskTypeNotFound(id);
    const current = toTaskType(row);
    checkRetryPolicy(patch, current);
    const { set, params } = setClause({ ...withoutUndefined(patch), updated_at: nowIso() }, 2);
    const [updated] = await tx.query(`UPDATE task_types SET ${set} WHERE id = $1 RETURNING *`, [id, ...params]);
    const type = toTaskType(updated!);
    if (type.is_active && !current.is_active) await reactivated(tx);
    return type;
  });
}

export async function deactivateTaskType(db: Queryable, id: number): Promise<void> {
  const rows = await db.query('UPDATE task_types SET is_active = false, updated_at = $2 WHERE id = $1 RETURNING id', [id, nowIso()]);
  if (rows.length === 0) throw taskTypeNotFound(id);
}
