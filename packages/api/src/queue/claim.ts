import type { ClaimRequest, Settlement, Task, TaskStore } from '@prismq/db';
import { TRPCError } from '@trpc/server';
import { fromDomainError, httpStatusOf } from '../errors.js';
import type { TaskExchangeInput, TaskExchangeOutput } from '../schemas.js';
import type { Context } from '../trpc.js';
import type { z } from 'zod';

/** Counts the claims that are waiting, up to a maximum. */
export class LongPollLimiter {
  private waiting = 0;
  constructor(readonly max: number) {}

  /** The claims waiting now. */
  get count(): number {
    return this.waiting;
  }

  /** Runs `wait` if a slot is free; 429 (TOO_MANY_REQUESTS) otherwise. */
  async run<T>(wait: () => Promise<T>): Promise<T> {
    if (this.waiting >= this.max) {
      throw new TRPCError({
        code: 'TOO_MANY_REQUESTS',
        message: `Too many claims are waiting (${this.max}); retry later or claim without wait_seconds`,
      });
    }
    this.waiting++;
    try {
      return await wait();
    } finally {
      this.waiting--;
    }
  }
}

/**
 * Claims tasks, waiting up to `waitSeconds` for one to become claimable when none is now. While
 * it waits, the store may hand it tasks leased in the very transaction that created them, or
 * wake it to claim again (tasks released or retried, or written by another process: see
 * TaskStore.waitToClaim); it also claims again when the next scheduled task or expiring lease
 * comes due, and at no other time. When `signal` aborts (client gone, server stopping), it
 * answers `[]`.
 */
export async function claimWithWait(
  store: TaskStore,
  request: ClaimRequest,
  waitSeconds: number,
  signal: AbortSignal,
  /** The caller has just claimed and found nothing: start by waiting (what came since is found by nextClaimableAt). */
  justClaimed = false,
): Promise<Task[]> {
  const deadline = Date.now() + waitSeconds * 1000;
  // Tasks that became claimable while this claim was looking, before it started to wait.
  let news: boolean;
  const unsubscribe = store.onTasksAvailable(() => (news = true));
  let stop: (() => void) | undefined;
  const onAbort = () => stop?.();
  signal.addEventListener('abort', onAbort);
  try {
    for (;;) {
      news = false;
      const tasks = justClaimed ? [] : await store.claimTasks(request);
      justClaimed = false;
      if (tasks.length > 0 || signal.aborted || Date.now() >= deadline) return tasks;
      const next = await store.nextClaimableAt(request);
      const until = Math.min(deadline, next ? Date.parse(next) + 1 : Infinity);
      if (news) continue; // something arrived while we were looking
      // Ends with the tasks the store handed over, or with nothing: woken, timed out or stopped.
      const handed = await new Promise<Task[] | undefined>((resolve) => {
        const finish = (claimed?: Task[]) => {
          stopWaiting();
          clearTimeout(timer);
          resolve(claimed);
        };
        const stopWaiting = store.waitToClaim(request, { claimed: finish, woken: () => finish() });
        const timer = setTimeout(() => finish(), Math.max(0, until - Date.now()));
        stop = () => finish();
      });
      stop = undefined;
      // Leased to this claim and committed: they are its answer even if the client has just gone.
      if (handed) return handed;
      if (signal.aborted) return [];
    }
  } finally {
    unsubscribe();
    signal.removeEventListener('abort', onAbort);
  }
}

/**
 * A worker's turn (tasks.exchange): settles the attempts it finished, then claims in the same
 * transaction; when that claims nothing and the worker will wait, the settlements are already
 * committed and the claim waits as a long poll does (claimWithWait).
 */
export async function exchangeWithWait(
  ctx: Pick<Context, 'store' | 'signal' | 'longPolls'>,
  input: z.output<typeof TaskExchangeInput>,
): Promise<z.output<typeof TaskExchangeOutput>> {
  const { completed, failed, wait_seconds, ...request } = input;
  const settle: Settlement[] = [
    ...completed.map(({ task_id, lease_id, result }): Settlement => ({ task_id, lease_id, outcome: 'completed', result })),
    ...failed.map(({ task_id, lease_id, error_message, retry }): Settlement => ({ task_id, lease_id, outcome: 'failed', error_message, retry })),
  ];
  const exchanged = await ctx.store.exchange({ ...request, settle });
  let tasks = exchanged.tasks;
  if (tasks.length === 0 && request.limit > 0 && wait_seconds > 0) {
    tasks = await ctx.longPolls.run(() => claimWithWait(ctx.store, request, wait_seconds, ctx.signal, true));
  }
  const settled = exchanged.settled.map((outcome) =>
    'status' in outcome
      ? { task_id: outcome.task_id, status: outcome.status }
      : { task_id: outcome.task_id, error: { status: httpStatusOf(fromDomainError(outcome.error)), detail: outcome.error.message } },
  );
  return { settled, tasks };
}
