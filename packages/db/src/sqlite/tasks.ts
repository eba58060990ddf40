import { and, desc, eq, type SQL } from 'drizzle-orm';
import { InvalidStateError, taskNotFound, taskTypeNotFound } from '../errors.js';
import { taskList, taskTypes } from '../schema.js';
import type { Task, TaskStatus } from '../types.js';
import type { TaskCreate, TaskFilter, TaskUpdate } from '../store.js';
import type { SqliteDb } from './database.js';
import { nowIso, withoutUndefined } from './util.js';

const FINISHED: ReadonlySet<TaskStatus> = new Set(['completed', 'failed', 'cancelled']);

export function createTask(db: SqliteDb, input: TaskCreate): Task {
  return db.transaction(
    (tx) => {
      const type = tx
        .select({ is_active: taskTypes.is_active })
        .from(taskTypes)
        .where(eq(taskTypes.id, input.task_type_id))
        .get();
      if (!type) throw taskTypeNotFound(input.task_type_id);
      if (!type.is_active) throw new InvalidStateError(`Task type ${input.task_type_id} is not active`);
      return tx
        .insert(taskList)
        .values({
          task_type_id: input.task_type_id,
          status: 'pending',
          parameters: input.parameters ?? {},
          priority: input.priority ?? 100,
          metadata: input.metadata ?? {},
          created_at: nowIso(),
        })
        .returning()
        .get();
    },
    { behavior: 'immediate' },
  );
}

/** The list query, newest first; its plan is checked to use an index for every filter. */
export function listTasksQuery(db: SqliteDb, filter: TaskFilter) {
  const conditions: SQL[] = [];
  if (filter.task_type_id !== undefined) conditions.push(eq(taskList.task_type_id, filter.task_type_id));
  if (filter.status !== undefined) conditions.push(eq(taskList.status, filter.status));
  return db
    .select()
    .from(taskList)
    .where(and(...conditions))
    .orderBy(desc(taskList.created_at), desc(taskList.id))
    .limit(filter.limit);
}

export function listTasks(db: SqliteDb, filter: TaskFilter): Task[] {
  return listTasksQuery(db, filter).all();
}

export function getTask(db: SqliteDb, id: number): Task {
  const row = db.select().from(taskList).where(eq(taskList.id, id)).get();
  if (!row) throw taskNotFound(id);
  return row;
}

export function updateTask(db: SqliteDb, id: number, patch: TaskUpdate): Task {
  const now = nowIso();
  const changes: Partial<Task> = { ...withoutUndefined(patch), updated_at: now };
  if (patch.status === 'running') changes.started_at = now;
  if (patch.status !== undefined && FINISHED.has(patch.status)) changes.completed_at = now;
  const row = db.update(taskList).set(changes).where(eq(taskList.id, id)).returning().get();
  if (!row) throw taskNotFound(id);
  return row;
}

export function deleteTask(db: SqliteDb, id: number): void {
  const { changes } = db.delete(taskList).where(eq(taskList.id, id)).run();
  if (changes === 0) throw taskNotFound(id);
}
