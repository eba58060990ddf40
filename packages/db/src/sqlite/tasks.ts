import { and, eq, inArray, sql } from 'drizzle-orm';
import { taskNotFound } from '../errors.js';
import { FINISHED_STATUSES, manualStatusChanges, type newTask } from '../rules/index.js';
import { taskCounts, taskList, taskTypes } from '../schema.js';
import type { CreatedTask, TaskCount, TaskCreate, TaskUpdate } from '../store.js';
import type { Task, TaskType } from '../types.js';
import {
  admitCreate,
  collectProblems,
  parametersToCheck as sharedParametersToCheck,
  requireChecked,
  type CheckedParameters,
  type ParametersToCheck,
} from '../validation.js';
import type { SqliteDb } from './database.js';

/** The columns of a new task as bound to the insert, its JSON as text. */
type NewTaskValues = Omit<ReturnType<typeof newTask>, 'status' | 'parameters' | 'metadata'> & { parameters: string; metadata: string };
import { isUniqueViolation, nowIso, preparedPer, withoutUndefined } from './util.js';

const p = sql.placeholder;

const statements = preparedPer((db: SqliteDb) => {
  return {
    type: db.select().from(taskTypes).where(eq(taskTypes.id, p('id'))).prepare(),
    task: db.select().from(taskList).where(eq(taskList.id, p('id'))).prepare(),
    byIdempotencyKey: db
      .select()
      .from(taskList)
      .where(and(eq(taskList.task_type_id, p('task_type_id')), eq(taskList.idempotency_key, p('key'))))
      .prepare(),
    // Written in SQL and run on the driver directly: it runs once per task created.
    insert: db.$client.prepare<[NewTaskValues], object>(
      `INSERT INTO task_list (task_type_id, status, parameters, priority, metadata, created_at, run_at, max_attempts, idempotency_key)
       VALUES (@task_type_id, 'pending', @parameters, @priority, @metadata, @created_at, @run_at, @max_attempts, @idempotency_key)
       RETURNING *`,
    ),
  };
});

function findByIdempotencyKey(db: SqliteDb, typeId: number, key: string): Task | undefined {
  return statements(db).byIdempotencyKey.get({ task_type_id: typeId, key });
}

/**
 * Outside any transaction, before the write: which of `inputs` insertTask will need validated
 * parameters for, as things stand (see validation.parametersToCheck).
 */
export function parametersToCheck(db: SqliteDb, inputs: TaskCreate[]): ParametersToCheck[] {
  const prepared = statements(db);
  const types = new Map<number, TaskType | undefined>();
  return sharedParametersToCheck(inputs, {
    type(id) {
      if (!types.has(id)) types.set(id, prepared.type.get({ id }));
      return types.get(id);
    },
    keyTaken: (typeId, key) => findByIdempotencyKey(db, typeId, key) !== undefined,
  });
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
function insertTask(db: SqliteDb, input: TaskCreate, checked: CheckedParameters | undefined, types?: Map<number, TaskType | undefined>): CreatedTask {
  const prepared = statements(db);
  const typeId = input.task_type_id;
  let type = types?.get(typeId);
  if (!type) {
    type = prepared.type.get({ id: typeId });
    types?.set(typeId, type);
  }
  const existing = input.idempotency_key === undefined ? undefined : findByIdempotencyKey(db, typeId, input.idempotency_key);
  const admitted = admitCreate(input, type, existing, checked, nowIso());
  if ('existing' in admitted) return { task: admitted.existing, created: false };
  const { values } = admitted;
  const row = prepared.insert.get({ ...values, parameters: JSON.stringify(values.parameters), metadata: JSON.stringify(values.metadata) })!;
  // The JSON columns as given: the same values the row now holds, without parsing them back.
  return { task: { ...(row as Task), parameters: values.parameters, metadata: values.metadata, result: null }, created: true };
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
  // All or nothing: any problem rolls the whole batch back.
  // The batch's types, read once each inside its transaction.
  const types = new Map<number, TaskType | undefined>();
  return db.transaction(() => collectProblems(inputs, (input, index) => insertTask(db, input, checked.get(index), types).task), {
    behavior: 'immediate',
  });
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
