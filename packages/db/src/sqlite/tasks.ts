import { and, desc, eq, inArray, sql, type SQL } from 'drizzle-orm';
import { InvalidStateError, taskNotFound, taskTypeNotFound, ValidationError, type Problem } from '../errors.js';
import type { ParameterValidator } from '../parameters.js';
import { taskCounts, taskList, taskTypes } from '../schema.js';
import type { CreatedTask, TaskCount, TaskCreate, TaskFilter, TaskUpdate } from '../store.js';
import type { Task, TaskStatus } from '../types.js';
import type { SqliteDb } from './database.js';
import { addSeconds, isUniqueViolation, nowIso, preparedPer, withoutUndefined } from './util.js';

const FINISHED: ReadonlySet<TaskStatus> = new Set(['completed', 'failed', 'cancelled']);

const p = sql.placeholder;

const statements = preparedPer((db: SqliteDb) => {
  const newestFirst = [desc(taskList.created_at), desc(taskList.id)] as const;
  const list = (where: SQL | undefined) => db.select().from(taskList).where(where).orderBy(...newestFirst).limit(p('limit')).prepare();
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

/** Inserts one task inside a transaction; `path` prefixes the location of any validation problem. */
function insertTask(db: SqliteDb, validator: ParameterValidator, input: TaskCreate, path: (string | number)[]): CreatedTask {
  const prepared = statements(db);
  const type = prepared.type.get({ id: input.task_type_id });
  if (!type) throw taskTypeNotFound(input.task_type_id);
  // A repeated create returns the first task, even if its type has been deactivated since.
  if (input.idempotency_key !== undefined) {
    const existing = findByIdempotencyKey(db, input.task_type_id, input.idempotency_key);
    if (existing) return { task: existing, created: false };
  }
  if (!type.is_active) throw new InvalidStateError(`Task type ${input.task_type_id} is not active`);
  const parameters = input.parameters ?? {};
  validator.validate(type, parameters, [...path, 'parameters']);
  const now = nowIso();
  const task = prepared.insert.get({
    task_type_id: input.task_type_id,
    parameters,
    priority: input.priority ?? 100,
    metadata: input.metadata ?? {},
    created_at: now,
    run_at: input.run_at ?? (input.delay_seconds ? addSeconds(now, input.delay_seconds) : now),
    max_attempts: input.max_attempts ?? type.max_attempts,
    idempotency_key: input.idempotency_key ?? null,
  })!;
  return { task, created: true };
}

export function createTask(db: SqliteDb, validator: ParameterValidator, input: TaskCreate): CreatedTask {
  try {
    return db.transaction(() => insertTask(db, validator, input, []), { behavior: 'immediate' });
  } catch (error) {
    // Another connection inserted the same idempotency key first: return its task.
    if (isUniqueViolation(error) && input.idempotency_key !== undefined) {
      const existing = findByIdempotencyKey(db, input.task_type_id, input.idempotency_key);
      if (existing) return { task: existing, created: false };
    }
    throw error;
  }
}

export function createTasks(db: SqliteDb, validator: ParameterValidator, inputs: TaskCreate[]): Task[] {
  return db.transaction(
    () => {
      const problems: Problem[] = [];
      const tasks: Task[] = [];
      inputs.forEach((input, index) => {
        try {
          tasks.push(insertTask(db, validator, input, ['tasks', index]).task);
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

export function listTasks(db: SqliteDb, filter: TaskFilter): Task[] {
  return listTasksStatement(db, filter).all({ task_type_id: filter.task_type_id, status: filter.status, limit: filter.limit });
}

export function getTask(db: SqliteDb, id: number): Task {
  const row = statements(db).task.get({ id });
  if (!row) throw taskNotFound(id);
  return row;
}

export function updateTask(db: SqliteDb, validator: ParameterValidator, id: number, patch: TaskUpdate): Task {
  return db.transaction(
    (tx) => {
      const current = tx.select().from(taskList).where(eq(taskList.id, id)).get();
      if (!current) throw taskNotFound(id);
      if (patch.parameters !== undefined) {
        const type = tx.select().from(taskTypes).where(eq(taskTypes.id, current.task_type_id)).get()!;
        validator.validate(type, patch.parameters);
      }
      const now = nowIso();
      const changes: Partial<Task> = { ...withoutUndefined(patch), updated_at: now };
      if (patch.status === 'running') changes.started_at = now;
      if (patch.status !== undefined && FINISHED.has(patch.status)) changes.completed_at = now;
      // A status set by hand ends any lease: the task is no longer a worker's to settle.
      if (patch.status !== undefined) Object.assign(changes, { lease_id: null, lease_expires_at: null });
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
    .where(and(inArray(taskList.status, [...FINISHED]), sql`${taskList.completed_at} < ${before}`))
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
