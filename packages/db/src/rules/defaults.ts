/** What a new task or task type gets when the caller leaves a field out. */
import { ValidationError } from '../errors.js';
import type { RetryPolicy, TaskCreate, TaskTypeCreate } from '../store.js';
import { DEFAULT_MAX_ATTEMPTS, DEFAULT_RETRY_BASE_SECONDS, DEFAULT_RETRY_MAX_SECONDS, type JsonObject, type TaskType } from '../types.js';
import { addSeconds } from './time.js';

export const DEFAULT_PRIORITY = 100;

/** The columns of a new pending task, from its input and its type. */
export function newTask(input: TaskCreate, type: Pick<TaskType, 'max_attempts'>, now: string) {
  return {
    task_type_id: input.task_type_id,
    status: 'pending' as const,
    parameters: input.parameters ?? ({} as JsonObject),
    priority: input.priority ?? DEFAULT_PRIORITY,
    metadata: input.metadata ?? ({} as JsonObject),
    created_at: now,
    run_at: input.run_at ?? (input.delay_seconds ? addSeconds(now, input.delay_seconds) : now),
    max_attempts: input.max_attempts ?? type.max_attempts,
    idempotency_key: input.idempotency_key ?? null,
  };
}

/** The columns of a new, active task type. */
export function newTaskType(input: TaskTypeCreate, now: string) {
  return {
    name: input.name,
    description: input.description ?? null,
    parameters_schema: input.parameters_schema ?? ({} as JsonObject),
    metadata: input.metadata ?? ({} as JsonObject),
    is_active: true,
    created_at: now,
    max_attempts: input.max_attempts ?? DEFAULT_MAX_ATTEMPTS,
    retry_base_seconds: input.retry_base_seconds ?? DEFAULT_RETRY_BASE_SECONDS,
    retry_max_seconds: input.retry_max_seconds ?? DEFAULT_RETRY_MAX_SECONDS,
  };
}

/** The backoff cap must not be below its base, counting the type's current values for fields left out. */
export function checkRetryPolicy(policy: RetryPolicy, current?: Pick<TaskType, 'retry_base_seconds' | 'retry_max_seconds'>): void {
  const base = policy.retry_base_seconds ?? current?.retry_base_seconds ?? DEFAULT_RETRY_BASE_SECONDS;
  const cap = policy.retry_max_seconds ?? current?.retry_max_seconds ?? DEFAULT_RETRY_MAX_SECONDS;
  if (cap < base) {
    const field = policy.retry_max_seconds !== undefined ? 'retry_max_seconds' : 'retry_base_seconds';
    throw new ValidationError([{ path: [field], message: 'retry_max_seconds must not be less than retry_base_seconds', type: 'too_small' }]);
  }
}
