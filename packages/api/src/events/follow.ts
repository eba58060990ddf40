/**
 * The two readers of the log of changes that the API offers: a live stream of changes
 * (tasks.events), resumable after the last event its client received, and a read of a task that
 * waits until it is finished (tasks.get with wait_seconds).
 */
import { DomainError, rules, type Task, type TaskChange } from '@prismq/db';
import { tracked, TRPCError, type TrackedEnvelope } from '@trpc/server';
import { fromDomainError } from '../errors.js';
import type { Context } from '../trpc.js';
import { matches, SubscriptionEnded, type ChangeFilter } from './hub.js';

/** Changes read at once while a stream catches up from its last event id. */
const CATCH_UP_PAGE = 500;

/** Ends a stream without its `return` event, so that its client connects again (to this server when it is back, or another). */
const reconnect = () => new DOMException('The event stream ended: connect again', 'AbortError');

/**
 * The changes that match `filter`, as tRPC tracked events (the change's id is the event id):
 * after `lastEventId` when given (read from the log until it meets the live stream, so that a
 * client that reconnects gets each change once, none missed), else from now. Ends when the
 * client goes away or the server stops; a stream that falls too far behind ends with a 503 that
 * tells its client to reconnect; one after a change no longer kept, with a 409 (ChangesExpiredError).
 */
export async function* followChanges(
  ctx: Pick<Context, 'store' | 'changes' | 'eventStreams' | 'signal'>,
  filter: ChangeFilter,
  lastEventId: string | null | undefined,
  signal: AbortSignal,
): AsyncGenerator<TrackedEnvelope<TaskChange>, void> {
  const release = ctx.eventStreams.acquire();
  const stop = AbortSignal.any([ctx.signal, signal]);
  const subscription = ctx.changes.subscribe(filter);
  try {
    await subscription.ready;
    let position = lastEventId ?? undefined;
    if (position !== undefined) {
      // Catching up: everything after the client's last event, up to where the live stream started or beyond.
      for (;;) {
        const page = await ctx.store.readChanges(position, CATCH_UP_PAGE);
        for (const change of page) if (matches(filter, change)) yield tracked(change.id, change);
        if (page.length > 0) position = page.at(-1)!.id;
        if (page.length < CATCH_UP_PAGE || stop.aborted) break;
      }
    }
    for (;;) {
      const change = await subscription.next(stop);
      if (!change) throw reconnect();
      // Read already while catching up.
      if (position !== undefined && ctx.store.compareChangeIds(change.id, position) <= 0) continue;
      yield tracked(change.id, change);
    }
  } catch (error) {
    if (error instanceof DomainError) throw fromDomainError(error);
    if (error instanceof SubscriptionEnded) throw new TRPCError({ code: 'SERVICE_UNAVAILABLE', message: error.message, cause: error });
    throw error;
  } finally {
    subscription.close();
    release();
  }
}

/**
 * The task, once finished (completed, failed or cancelled), waiting up to `waitSeconds` for it:
 * answers at once when it is finished already, else as soon as the log says it finished (here or
 * in another replica), or with its state as it is when the time is up, the client goes away or
 * the server stops. Counts as a waiting request (ctx.longPolls, 429 when full).
 */
export async function getTaskWaiting(ctx: Pick<Context, 'store' | 'changes' | 'longPolls' | 'signal'>, taskId: number, waitSeconds: number): Promise<Task> {
  if (waitSeconds <= 0) return ctx.store.getTask(taskId);
  return ctx.longPolls.run(async () => {
    // Subscribed before the read: a change committed after it is not missed.
    const subscription = ctx.changes.subscribe({ task_ids: [taskId] });
    const timeUp = new AbortController();
    const timer = setTimeout(() => timeUp.abort(), waitSeconds * 1000);
    const stop = AbortSignal.any([ctx.signal, timeUp.signal]);
    try {
      try {
        await subscription.ready;
      } catch {
        return await ctx.store.getTask(taskId); // the log cannot be read: the task as it is
      }
      let task = await ctx.store.getTask(taskId);
      while (!rules.isFinished(task.status)) {
        let change: TaskChange | undefined;
        try {
          change = await subscription.next(stop);
        } catch {
          change = undefined; // fell behind: the task as it is
        }
        if (!change) return await ctx.store.getTask(taskId);
        if (rules.isFinished(change.status) || change.kind === 'deleted') task = await ctx.store.getTask(taskId);
      }
      return task;
    } finally {
      clearTimeout(timer);
      subscription.close();
    }
  });
}
