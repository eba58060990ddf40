import { asc, eq } from 'drizzle-orm';
import { ConflictError, taskTypeNotFound, ValidationError } from '../errors.js';
import { taskTypes } from '../schema.js';
import type { RetryPolicy, TaskTypeCreate, TaskTypeFilter, TaskTypeUpdate } from '../store.js';
import { DEFAULT_MAX_ATTEMPTS, DEFAULT_RETRY_BASE_SECONDS, DEFAULT_RETRY_MAX_SECONDS, type TaskType } from '../types.js';
import type { SqliteDb } from './database.js';
import { isUniqueViolation, nowIso, withoutUndefined } from './util.js';

function checkPolicy(policy: RetryPolicy, current?: TaskType): void {
  const base = policy.retry_base_seconds ?? current?.retry_base_seconds ?? DEFAULT_RETRY_BASE_SECONDS;
  const cap = policy.retry_max_seconds ?? current?.retry_max_seconds ?? DEFAULT_RETRY_MAX_SECONDS;
  if (cap < base) {
    const field = policy.retry_max_seconds !== undefined ? 'retry_max_seconds' : 'retry_base_seconds';
    throw new ValidationError([{ path: [field], message: 'retry_max_seconds must not be less than retry_base_seconds', type: 'too_small' }]);
  }
}

/** The caller has checked `parameters_schema`, before the write and off the main thread (see ParameterValidator). */
export function createTaskType(db: SqliteDb, input: TaskTypeCreate): TaskType {
  checkPolicy(input);
  const taken = () => new ConflictError(`Task type '${input.name}' already exists`);
  return db.transaction(
    (tx) => {
      const existing = tx.select({ id: taskTypes.id }).from(taskTypes).where(eq(taskTypes.name, input.name)).get();
      if (existing) throw taken();
      try {
        return tx
          .insert(taskTypes)
          .values({
            name: input.name,
            description: input.description ?? null,
            parameters_schema: input.parameters_schema ?? {},
            metadata: input.metadata ?? {},
            is_active: true,
            created_at: nowIso(),
            max_attempts: input.max_attempts ?? DEFAULT_MAX_ATTEMPTS,
            retry_base_seconds: input.retry_base_seconds ?? DEFAULT_RETRY_BASE_SECONDS,
            retry_max_seconds: input.retry_max_seconds ?? DEFAULT_RETRY_MAX_SECONDS,
          })
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
      checkPolicy(patch, current);
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
