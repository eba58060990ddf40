import { and, desc, eq, inArray, sql, type SQL } from 'drizzle-orm';
import { ConflictError, InvalidStateError, taskNotFound, taskTypeNotFound, ValidationError, type Problem } from '../errors.js';
import { acceptsAnything, typeVersion } from '../parameters.js';
import { FINISHED_STATUSES, manualStatusChanges, newTask } from '../rules/index.js';
import { taskCounts, taskList, taskTypes } from '../schema.js';
import type { CreatedTask, TaskCount, TaskCreate, TaskFilter, TaskUpdate } from '../store.js';
import type { JsonObject, Task, TaskType } from '../types.js';
import type { SqliteDb } from './database.js';
import { isUniqueViolation, nowIso, preparedPer, withoutUndefined } from './util.js';

/**
 * The most stored JSON one page of a task list holds, so that a list of large tasks neither fails
 * to serialize nor takes unbounded memory: a page stops before the row that would pass it (it
 * always holds at least one row).
 */
export const MAX_LIST_BYTES = 8 * 1024 * 1024;

/** A row's size as stored, read from the record header: SQLite need not load the values for it. */
const rowBytes = sql<number>`octet_length(${taskList.parameters}) + octet_length(${taskList.metadata}) + coalesce(octet_length(${taskList.result}), 0) + coalesce(octet_length(${taskList.error_message}), 0) + coalesce(octet_length(${taskList.idempotency_key}), 0) + coalesce(octet_length(${taskList.worker_id}), 0) + 400`;

const p = sql.placeholder;

const statements = preparedPer((db: SqliteDb) => {
  const newestFirst = [desc(taskList.created_at), desc(taskList.id)] as const;
  // A page is chosen by each row's size before any row is read whole (see listTasks).
  const list = (where: SQL | undefined) =>
    db.select({ id: taskList.id, bytes: rowBytes }).from(taskList).where(where).orderBy(...newestFirst).limit(p('limit')).prepare();
  return {
    type: db.select().from(taskTypes).where(eq(taskTypes.id, p('id'))).prepare(),
    task: db.select().from(taskList).where(eq(taskList.id, p('id'))).prepare(),
    byIdempotencyKey: db
      .select()
      .from(taskList)
      .where(and(eq(taskList.task_type_id, p('task_type_id')), eq(taskList.idempotency_key, p('key'))))
      .prepare(),
    insert: db
      .insert(taskList)
      .values({
        task_type_id: p('task_type_id'),
        status: 'pending',
        parameters: p('parameters'),
        priority: p('priority'),
        metadata: p('metadata'),
        created_at: p('created_at'),
        run_at: p('run_at'),
        max_attempts: p('max_attempts'),
        idempotency_key: p('idempotency_key'),
      })
      .returning()
      .prepare(),
    byIds: db
      .select()
      .from(taskList)
      .where(sql`${taskList.id} IN (SELECT value FROM json_each(${p('ids')}))`)
      .orderBy(...newestFirst)
      .prepare(),
    // One statement per combination of filters, each served by its own index.
    list: {
      all: list(undefined),
      byType: list(eq(taskList.task_type_id, p('task_type_id'))),
      byStatus: list(eq(taskList.status, p('status'))),
      byTypeAndStatus: list(and(eq(taskList.task_type_id, p('task_type_id')), eq(taskList.status, p('status')))),
    },
  };
});

function findByIdempotencyKey(db: SqliteDb, typeId: number, key: string): Task | undefined {
  return statements(db).byIdempotencyKey.get({ task_type_id: typeId, key });
}

/**
 * A write's parameters as validated, before the write and off the main thread (see
 * ParameterValidator), against one version of their type: the problems found, none if valid.
 */
export interface CheckedParameters {
  version: string;
  problems: Problem[];
}

/**
 * The type changed between the validation of a write's parameters and the write, or the write
 * needs parameters validated that were not: the store validates again and retries the write.
 */
export class TypeChangedError extends ConflictError {
  constructor(typeId: number) {
    super(`Task type ${typeId} kept changing while the parameters were validated; try again`);
  }
}

/**
 * Inside a write: parameters for `type` must have been validated against this very version of
 * it, unless its schema accepts anything; throws their problems if they had any.
 */
function requireChecked(type: TaskType, checked: CheckedParameters | undefined): void {
  if (acceptsAnything(type.parameters_schema)) return;
  if (checked?.version !== typeVersion(type)) throw new TypeChangedError(type.id);
  if (checked.problems.length) throw new ValidationError(checked.problems);
}

/** Creates that insertTask will validate the parameters of (`index` into the inputs). */
export interface ParametersToCheck {
  index: number;
  type: TaskType;
  parameters: JsonObject;
}

/**
 * Outside any transaction, before the write: which of `inputs` insertTask will need validated
 * parameters for, as things stand. Not those that an earlier task with the same idempotency key
 * answers (in the database, or earlier in `inputs`), nor those whose type accepts anything;
 * none from the first create that will fail (its type missing or inactive) on.
 */
export function parametersToCheck(db: SqliteDb, inputs: TaskCreate[]): ParametersToCheck[] {
  const prepared = statements(db);
  const types = new Map<number, TaskType | undefined>();
  const keys = new Set<string>();
  const found: ParametersToCheck[] = [];
  for (const [index, input] of inputs.entries()) {
    if (!types.has(input.task_type_id)) types.set(input.task_type_id, prepared.type.get({ id: input.task_type_id }));
    const type = types.get(input.task_type_id);
    if (!type) break;
    if (input.idempotency_key !== undefined) {
      const key = `${input.task_type_id}\0${input.idempotency_key}`;
      if (keys.has(key) || findByIdempotencyKey(db, input.task_type_id, input.idempotency_key)) continue;
      keys.add(key);
    }
    if (!type.is_active) break;
    if (!acceptsAnything(type.parameters_schema)) found.push({ index, type, parameters: input.parameters ?? {} });
  }
  return found;
}

/** Outside any transaction, before the write: the type of a task, if the task exists. */
export function typeOfTask(db: SqliteDb, id: number): TaskType | undefined {
  const prepared = statements(db);
  const task = prepared.task.get({ id });
  return task && prepared.type.get({ id: task.task_type_id });
}

/**
 * Inserts one task inside a transaction. `checked`: its parameters as validated before the write
 * (their problems located under its place in the request), if they needed it.
 */
function insertTask(db: SqliteDb, input: TaskCreate, checked: CheckedParameters | undefined): CreatedTask {
  const prepared = statements(db);
  const type = prepared.type.get({ id: input.task_type_id });
  if (!type) throw taskTypeNotFound(input.task_type_id);
  // A repeated create returns the first task, even if its type has been deactivated since.
  if (input.idempotency_key !== undefined) {
    const existing = findByIdempotencyKey(db, input.task_type_id, input.idempotency_key);
    if (existing) return { task: existing, created: false };
  }
  if (!type.is_active) throw new InvalidStateError(`Task type ${input.task_type_id} is not active`);
  requireChecked(type, checked);
  const { status: _pending, ...values } = newTask(input, type, nowIso());
  const task = prepared.insert.get(values)!;
  return { task, created: true };
}

export function createTask(db: SqliteDb, input: TaskCreate, checked?: CheckedParameters): CreatedTask {
  try {
    return db.transaction(() => insertTask(db, input, checked), { behavior: 'immediate' });
  } catch (error) {
    // Another connection inserted the same idempotency key first: return its task.
    if (isUniqueViolation(error) && input.idempotency_key !== undefined) {
      const existing = findByIdempotencyKey(db, input.task_type_id, input.idempotency_key);
      if (existing) return { task: existing, created: false };
    }
    throw error;
  }
}

/** `checked`: the parameters validated before the write, by index into `inputs`. */
export function createTasks(db: SqliteDb, inputs: TaskCreate[], checked: ReadonlyMap<number, CheckedParameters>): Task[] {
  return db.transaction(
    () => {
      const problems: Problem[] = [];
      const tasks: Task[] = [];
      inputs.forEach((input, index) => {
        try {
          tasks.push(insertTask(db, input, checked.get(index)).task);
        } catch (error) {
          if (!(error instanceof ValidationError)) throw error;
          problems.push(...error.problems);
        }
      });
      // All or nothing: any problem rolls the whole batch back.
      if (problems.length) throw new ValidationError(problems);
      return tasks;
    },
    { behavior: 'immediate' },
  );
}

/** The list statement for a filter, newest first; its plan is checked to use an index for every filter. */
export function listTasksStatement(db: SqliteDb, filter: TaskFilter) {
  const { list } = statements(db);
  if (filter.task_type_id !== undefined) return filter.status !== undefined ? list.byTypeAndStatus : list.byType;
  return filter.status !== undefined ? list.byStatus : list.all;
}

/** Newest first, at most `filter.limit` tasks and MAX_LIST_BYTES of them. */
export function listTasks(db: SqliteDb, filter: TaskFilter): Task[] {
  const sizes = listTasksStatement(db, filter).all({ task_type_id: filter.task_type_id, status: filter.status, limit: filter.limit });
  const ids: number[] = [];
  let total = 0;
  for (const { id, bytes } of sizes) {
    total += bytes;
    if (total > MAX_LIST_BYTES && ids.length > 0) break;
    ids.push(id);
  }
  return ids.length ? statements(db).byIds.all({ ids: JSON.stringify(ids) }) : [];
}

export function getTask(db: SqliteDb, id: number): Task {
  const row = statements(db).task.get({ id });
  if (!row) throw taskNotFound(id);
  return row;
}

/** `checked`: the new parameters, if any, as validated before the write. */
export function updateTask(db: SqliteDb, id: number, patch: TaskUpdate, checked?: CheckedParameters): Task {
  return db.transaction(
    (tx) => {
      const current = tx.select().from(taskList).where(eq(taskList.id, id)).get();
      if (!current) throw taskNotFound(id);
      if (patch.parameters !== undefined) {
        const type = tx.select().from(taskTypes).where(eq(taskTypes.id, current.task_type_id)).get()!;
        requireChecked(type, checked);
      }
      const now = nowIso();
      const changes: Partial<Task> = { ...withoutUndefined(patch), ...manualStatusChanges(patch.status, now), updated_at: now };
      return tx.update(taskList).set(changes).where(eq(taskList.id, id)).returning().get()!;
    },
    { behavior: 'immediate' },
  );
}

export function deleteTask(db: SqliteDb, id: number): void {
  const { changes } = db.delete(taskList).where(eq(taskList.id, id)).run();
  if (changes === 0) throw taskNotFound(id);
}

/** Deletes, oldest first, up to `limit` finished tasks that finished before `before`. */
export function deleteFinishedTasks(db: SqliteDb, before: string, limit: number): number {
  const doomed = db
    .select({ id: taskList.id })
    .from(taskList)
    .where(and(inArray(taskList.status, [...FINISHED_STATUSES]), sql`${taskList.completed_at} < ${before}`))
    .orderBy(taskList.completed_at)
    .limit(limit);
  return db.delete(taskList).where(inArray(taskList.id, doomed)).run().changes;
}

/** Read from the counts the triggers keep, not by counting rows: cheap at any size. */
export function countTasks(db: SqliteDb): TaskCount[] {
  return db
    .select({ task_type: taskTypes.name, status: taskCounts.status, count: taskCounts.count })
    .from(taskCounts)
    .innerJoin(taskTypes, eq(taskTypes.id, taskCounts.task_type_id))
    .where(sql`${taskCounts.count} > 0`)
    .all();
}
