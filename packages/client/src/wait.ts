/** Waiting for a task's outcome: a loop of `tasks.get` with `wait_seconds`. */
import type { PrismqClient, Task } from './index.js';

/** waitForResult gave up: the task was not finished within `timeoutMs`. */
export class WaitTimeoutError extends Error {
  constructor(
    readonly task: Task,
    timeoutMs: number,
  ) {
    super(`Task ${task.id} did not finish within ${timeoutMs} ms (it is ${task.status})`);
    this.name = 'WaitTimeoutError';
  }
}

export interface WaitForResultOptions {
  /** Give up after this long (WaitTimeoutError), give or take a second; default: wait as long as it takes. */
  timeoutMs?: number;
  /** Stops waiting (the call rejects with the signal's reason). */
  signal?: AbortSignal;
}

/**
 * Waits until the task is finished (completed, failed or cancelled) and returns it: a loop of
 * `tasks.get` with `wait_seconds` (up to 30 s each), which the server answers as soon as the
 * task finishes. Throws WaitTimeoutError when `timeoutMs` passes first, and the API's error when
 * the task does not exist (NOT_FOUND).
 */
export async function waitForResult(client: PrismqClient, taskId: number, options: WaitForResultOptions = {}): Promise<Task> {
  const { timeoutMs, signal } = options;
  const deadline = timeoutMs === undefined ? Infinity : Date.now() + timeoutMs;
  for (;;) {
    const left = deadline - Date.now();
    const wait = Math.max(0, Math.min(30, Math.ceil(left / 1000)));
    const task = await client.tasks.get.query({ task_id: taskId, wait_seconds: wait }, signal ? { signal } : {});
    if (task.status === 'completed' || task.status === 'failed' || task.status === 'cancelled') return task;
    if (Date.now() >= deadline || wait === 0) throw new WaitTimeoutError(task, timeoutMs ?? 0);
  }
}
