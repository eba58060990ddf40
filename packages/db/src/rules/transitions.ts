/**
 * Which status a task may move to from which, and what each move sets: the rules every engine
 * applies in its own SQL.
 */
import { ConflictError, LeaseLostError } from '../errors.js';
import type { Lease } from '../store.js';
import type { Task, TaskStatus, TaskType } from '../types.js';
import { retryDelaySeconds } from './backoff.js';
import { addSeconds } from './time.js';

/** A task in one of these is done: it has a `completed_at`, and retention may delete it. */
export const FINISHED_STATUSES: readonly TaskStatus[] = ['completed', 'failed', 'cancelled'];
export const isFinished = (status: TaskStatus): boolean => FINISHED_STATUSES.includes(status);

/** What a producer may cancel, and what it may put back to pending. */
export const CANCELLABLE: readonly TaskStatus[] = ['pending', 'running'];
export const RETRYABLE: readonly TaskStatus[] = ['failed', 'cancelled'];

/** The columns a move changes (besides `updated_at`, which every change sets). */
export type TaskChanges = Partial<Pick<Task, 'status' | 'started_at' | 'completed_at' | 'lease_id' | 'lease_expires_at' | 'run_at' | 'attempts' | 'error_message'>>;

/**
 * What setting `status` by hand (PUT) sets too: `running` starts it, a finished status finishes
 * it, and any status ends the lease: the task is no longer a worker's to settle.
 */
export function manualStatusChanges(status: TaskStatus | undefined, now: string): TaskChanges {
  if (status === undefined) return {};
  const changes: TaskChanges = { lease_id: null, lease_expires_at: null };
  if (status === 'running') changes.started_at = now;
  if (isFinished(status)) changes.completed_at = now;
  return changes;
}

export const cancelChanges = (now: string): TaskChanges => ({ status: 'cancelled', completed_at: now, lease_expires_at: null });

export const retryChanges = (now: string): TaskChanges => ({ status: 'pending', attempts: 0, run_at: now, completed_at: null, lease_expires_at: null });

/**
 * What a failed attempt sets: back to pending after the type's backoff while attempts remain and
 * the worker asked for a retry, else failed for good.
 */
export function failChanges(
  task: Pick<Task, 'attempts' | 'max_attempts'>,
  type: Pick<TaskType, 'retry_base_seconds' | 'retry_max_seconds'>,
  errorMessage: string,
  retry: boolean,
  now: string,
): TaskChanges {
  if (retry && task.attempts < task.max_attempts) {
    return { status: 'pending', error_message: errorMessage, run_at: addSeconds(now, retryDelaySeconds(type, task.attempts)), lease_expires_at: null };
  }
  return { status: 'failed', error_message: errorMessage, completed_at: now, lease_expires_at: null };
}

/** The error for a move from a status that does not allow it (409). */
export function transitionRefused(id: number, status: TaskStatus, from: readonly TaskStatus[], action: string): ConflictError {
  return new ConflictError(`Task ${id} is ${status}: only ${from.join(' or ')} tasks can be ${action}`);
}

/** Why `lease` no longer holds a task, given the task as it is now (409). */
export function leaseLost(id: number, lease: Lease, current: Pick<Task, 'status' | 'lease_id'>): LeaseLostError {
  const why =
    current.status !== 'running'
      ? `it is ${current.status}`
      : current.lease_id === lease.lease_id
        ? `it is leased to another worker`
        : `its lease was taken over by a newer claim`;
  return new LeaseLostError(`Task ${id} is not leased to worker '${lease.worker_id}' with lease '${lease.lease_id}': ${why}`);
}

