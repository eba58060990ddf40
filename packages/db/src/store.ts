import type { JsonObject, Task, TaskStatus, TaskType } from './types.js';

export interface TaskTypeCreate {
  name: string;
  description?: string | null | undefined;
  parameters_schema?: JsonObject | undefined;
  metadata?: JsonObject | undefined;
}

export interface TaskTypeUpdate {
  description?: string | null | undefined;
  parameters_schema?: JsonObject | undefined;
  metadata?: JsonObject | undefined;
  is_active?: boolean | undefined;
}

export interface TaskTypeFilter {
  include_inactive?: boolean | undefined;
}

export interface TaskCreate {
  task_type_id: number;
  parameters?: JsonObject | undefined;
  priority?: number | undefined;
  metadata?: JsonObject | undefined;
}

export interface TaskUpdate {
  status?: TaskStatus | undefined;
  priority?: number | undefined;
  parameters?: JsonObject | undefined;
  metadata?: JsonObject | undefined;
  result?: unknown;
  error_message?: string | null | undefined;
}

export interface TaskFilter {
  task_type_id?: number | undefined;
  status?: TaskStatus | undefined;
  limit: number;
}

/**
 * Everything the API does to its data, named for what it means.
 * Every method is async so that an engine with a network round trip (PostgreSQL) can implement it;
 * each one is a single transaction. Missing rows raise NotFoundError, name clashes ConflictError,
 * and forbidden state changes InvalidStateError (see ./errors.ts).
 */
export interface TaskStore {
  createTaskType(input: TaskTypeCreate): Promise<TaskType>;
  /** Ordered by name; inactive types only when asked for. */
  listTaskTypes(filter: TaskTypeFilter): Promise<TaskType[]>;
  getTaskType(id: number): Promise<TaskType>;
  /** Partial update: absent fields keep their value; `updated_at` is always set. */
  updateTaskType(id: number, patch: TaskTypeUpdate): Promise<TaskType>;
  /** Soft delete: the type stays, marked inactive, and takes no new tasks. */
  deactivateTaskType(id: number): Promise<void>;

  /** Creates a pending task; the type must exist (NotFoundError) and be active (InvalidStateError). */
  createTask(input: TaskCreate): Promise<Task>;
  /** Newest first: `created_at` descending, then `id` descending. */
  listTasks(filter: TaskFilter): Promise<Task[]>;
  getTask(id: number): Promise<Task>;
  /**
   * Partial update; `updated_at` is always set. Moving to `running` sets `started_at`;
   * moving to `completed`, `failed` or `cancelled` sets `completed_at`.
   */
  updateTask(id: number, patch: TaskUpdate): Promise<Task>;
  /** Permanent delete. */
  deleteTask(id: number): Promise<void>;

  /** True when the database answers and its migrations are applied. */
  ping(): Promise<boolean>;
  close(): Promise<void>;
}
