import type { TaskType } from '../types.js';

/**
 * How long a failed attempt waits before the next one, in seconds: exponential backoff with
 * equal jitter, `min(cap, base × 2^(attempt-1))`, half of it fixed and half random.
 */
export function retryDelaySeconds(
  type: Pick<TaskType, 'retry_base_seconds' | 'retry_max_seconds'>,
  attempt: number,
  random: () => number = Math.random,
): number {
  const delay = Math.min(type.retry_max_seconds, type.retry_base_seconds * 2 ** Math.max(0, attempt - 1));
  return delay / 2 + random() * (delay / 2);
}
