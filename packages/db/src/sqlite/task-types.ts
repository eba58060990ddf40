import { asc, eq } from 'drizzle-orm';
import { ConflictError, taskTypeNamedNotFound, taskTypeNotFound } from '../errors.js';
import { checkRetryPolicy, newTaskType } from '../rules/index.js';
import { taskTypes } from '../schema.js';
import type { TaskTypeCreate, TaskTypeFilter, TaskTypeUpdate } from '../store.js';
import type { TaskType } from '../types.js';
import type { SqliteDb } from './database.js';
import { isUniqueViolation, nowIso, withoutUndefined } from './util.js';

/** The caller has checked `parameters_schema`, before the write and off the main thread (see ParameterValidator). */
export function createTaskType(db: SqliteDb, input: TaskTypeCreate): TaskType {
  checkRetryPolicy(input);
  const taken = () => new ConflictError(`Task type '${input.name}' already exists`);
  return db.transaction(
    (tx) => {
      const existing = tx.select({ id: taskTypes.id }).from(taskTypes).where(eq(taskTypes.name, input.name)).get();
      if (existing) throw taken();
      try {
        return tx
          .insert(taskTypes)
          .values(newTaskType(input, nowIso()))
          .returning()
          .get();
      } catch (error) {
        if (isUniqueViolation(error)) throw taken();
        throw error;
      }
    },
    { behavior: 'immediate' },
  );
}

export function listTaskTypes(db: SqliteDb, filter: TaskTypeFilter): TaskType[] {
  const query = db.select().from(taskTypes);
  const filtered = filter.include_inactive ? query : query.where(eq(taskTypes.is_active, true));
  return filtered.orderBy(asc(taskTypes.name)).all();
}

export function getTaskTypeByName(db: SqliteDb, name: string): TaskType {
  const row = db.select().from(taskTypes).where(eq(taskTypes.name, name)).get();
  if (!row) throw taskTypeNamedNotFound(name);
  return row;
}

export function getTaskType(db: SqliteDb, id: number): TaskType {
  const row = db.select().from(taskTypes).where(eq(taskTypes.id, id)).get();
  if (!row) throw taskTypeNotFound(id);
  return row;
}

/** The caller has checked `parameters_schema`, before the write and off the main thread (see ParameterValidator). */
export function updateTaskType(db: SqliteDb, id: number, patch: TaskTypeUpdate): TaskType {
  return db.transaction(
    (tx) => {
      const current = tx.select().from(taskTypes).where(eq(taskTypes.id, id)).get();
      if (!current) throw taskTypeNotFound(id);
      checkRetryPolicy(patch, current);
      return tx
        .update(taskTypes)
        .set({ ...withoutUndefined(patch), updated_at: nowIso() })
        .where(eq(taskTypes.id, id))
        .returning()
        .get()!;
    },
    { behavior: 'immediate' },
  );
}

export function deactivateTaskType(db: SqliteDb, id: number): void {
  const { changes } = db
    .update(taskTypes)
    .set({ is_active: false, updated_at: nowIso() })
    .where(eq(taskTypes.id, id))
    .run();
  if (changes === 0) throw taskTypeNotFound(id);
}
