/**
 * The worker runtime: long-polls the API for tasks of the types it has handlers for, runs them
 * with bounded concurrency, keeps their leases alive, and reports each outcome. For Node.js (it
 * names itself after the host and handles SIGTERM), so it is its own entry point:
 *
 * ```ts
 * import { createWorker } from '@prismq/client/worker';
 *
 * const worker = createWorker<{ video_processing: { format: 'mp4' | 'webm' } }>({
 *   url: 'http://localhost:8000',
 *   handlers: {
 *     video_processing: async (task, { signal }) => transcode(task.parameters.format, { signal }),
 *   },
 *   concurrency: 4,
 * });
 * // later: await worker.stop();
 * ```
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { createPrismqClient, errorInfo, type PrismqClientOptions, type Task } from './index.js';
import { createNodeFetch } from './node-fetch.js';

/** A claimed task as a handler sees it: its parameters typed, its lease held. */
export interface WorkerTask<Params = Record<string, unknown>> extends Omit<Task, 'parameters' | 'lease_id'> {
  parameters: Params;
  lease_id: string;
}

export interface HandlerContext {
  /**
   * Aborted when the task is no longer this worker's: it was cancelled, or its lease was lost
   * (expired and claimed again). Stop work and return; the outcome is not reported.
   */
  signal: AbortSignal;
  /** Extends the lease now. Heartbeats are also sent automatically. */
  heartbeat(): Promise<void>;
  /**
   * Reports how far the task got, 0 to 100, and what it is doing (at most 1000 characters; longer
   * is cut), by a heartbeat sent at once: the task and its attempt keep them (GET
   * /api/tasks/{id}/attempts). Returns at once. Calls made while a report is on its way are
   * coalesced: the latest goes when it has arrived, so a tight loop sends at most one at a time.
   * The last report reaches the server before the task's outcome. A report without a message
   * clears the previous one. Throws a RangeError for a percent outside 0 to 100.
   */
  progress(percent: number, message?: string): void;
  workerId: string;
}

/** Runs one task; its return value becomes the task's result, a thrown error fails the attempt. */
export type TaskHandler<Params = Record<string, unknown>> = (task: WorkerTask<Params>, context: HandlerContext) => unknown;

export interface WorkerOptions<Types extends Record<string, object>> extends Omit<PrismqClientOptions, 'batch'> {
  /** One handler per task type name. The type argument gives each type's parameters. */
  handlers: { [Name in keyof Types & string]: TaskHandler<Types[Name]> };
  /** Tasks run at once (default 1). */
  concurrency?: number;
  /**
   * Tasks claimed beyond `concurrency`, held here until a handler is free (default 0). With many
   * short tasks, `prefetch` equal to `concurrency` lets every request carry twice as many: fewer
   * requests and commits per task. A held task's lease runs while it waits (it is renewed before
   * its handler starts if a third of it has passed), and no other worker can take it: keep it 0
   * for long tasks.
   */
  prefetch?: number;
  /** Lease length in seconds (default 60); heartbeats go out every third of it. */
  leaseSeconds?: number;
  /** How long one claim request waits for work, in seconds (default 20, at most 30). */
  waitSeconds?: number;
  /** Default: host name, process id and a random suffix. */
  workerId?: string;
  /** Stop gracefully on SIGTERM and SIGINT (default true). */
  handleSignals?: boolean;
  /** Called with errors that do not belong to a handler's outcome (network, lost leases). Default: console.error. */
  onError?: (error: unknown, task?: Task) => void;
}

export interface Worker {
  readonly workerId: string;
  /** Handlers running now. */
  readonly active: number;
  /** Stops claiming, lets running handlers finish and report, then resolves. */
  stop(): Promise<void>;
  /** Resolves once the worker has stopped. */
  readonly stopped: Promise<void>;
}

const RETRY_AFTER_ERROR_MS = 1000;

/** The longest progress message the API takes (its rules/progress.ts). */
const MAX_PROGRESS_MESSAGE_LENGTH = 1000;

/** A progress report, as the heartbeat carries it. */
interface ProgressReport {
  progress: number;
  message?: string;
}

class LeaseLost extends Error {}

/** A finished attempt on its way to the server. */
type Outcome =
  | { task: Task; lease_id: string; ok: true; result: unknown }
  | { task: Task; lease_id: string; ok: false; error_message: string };

/** Starts a worker at once; see WorkerOptions. */
export function createWorker<Types extends Record<string, object> = Record<string, Record<string, unknown>>>(
  options: WorkerOptions<Types>,
): Worker {
  const { handlers, concurrency = 1, prefetch = 0, leaseSeconds = 60, waitSeconds = 20, handleSignals = true } = options;
  const workerId = options.workerId ?? `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  const onError = options.onError ?? ((error: unknown) => console.error('[prismq worker]', error));
  // Heartbeats made in the same tick share one request; exchanges go alone (one may long-poll).
  // Without a fetch of the user's, calls go over node:http's keep-alive connections (node-fetch.ts).
  const client = createPrismqClient({ ...options, batch: true, fetch: options.fetch ?? createNodeFetch() });
  const typeNames = Object.keys(handlers);

  let stopping = false;
  const stopPolling = new AbortController();
  const running = new Set<Promise<void>>();
  /** Tasks claimed ahead (prefetch), waiting for a free handler, with when they were claimed. */
  const held: { task: Task; since: number }[] = [];
  /** Finished attempts not yet sent. */
  let outcomes: Outcome[] = [];
  /** Slots asked for by exchanges in flight. */
  let asked = 0;
  /** An exchange that carries outcomes is in flight (at most one: the next takes all that finish meanwhile). */
  let settling = false;
  /** An exchange that carries none, and may wait for tasks, is in flight. */
  let polling = false;
  /** When exchanges failed: no new one before this time. */
  let backoffUntil = 0;
  let pumpScheduled = false;
  let idle: (() => void) | undefined;

  const isLeaseLost = (error: unknown) => {
    const status = errorInfo(error)?.httpStatus;
    return status === 409 || status === 404;
  };

  // One lookup per type, shared by the tasks claimed together.
  const handlerByTypeId = new Map<number, Promise<TaskHandler<never> | undefined>>();
  function handlerFor(task: Task): Promise<TaskHandler<never> | undefined> {
    let handler = handlerByTypeId.get(task.task_type_id);
    if (!handler) {
      handler = client.taskTypes.get
        .query({ task_type_id: task.task_type_id })
        .then((type) => handlers[type.name as keyof typeof handlers] as TaskHandler<never> | undefined);
      handlerByTypeId.set(task.task_type_id, handler);
      // A failed lookup is asked again for the next task.
      handler.catch(() => handlerByTypeId.delete(task.task_type_id));
    }
    return handler;
  }

  async function run(claimed: Task, heldSince?: number): Promise<void> {
    const task = claimed as WorkerTask<never>;
    const lease = { task_id: task.id, worker_id: workerId, lease_id: task.lease_id };
    const lost = new AbortController();
    let leaseExpiresAt = Date.parse(task.lease_expires_at ?? '') || Date.now() + leaseSeconds * 1000;

    const heartbeat = async (report?: ProgressReport) => {
      if (lost.signal.aborted) throw lost.signal.reason;
      try {
        const renewed = await client.tasks.heartbeat.mutate({ ...lease, lease_seconds: leaseSeconds, ...report });
        leaseExpiresAt = Date.parse(renewed.lease_expires_at ?? '') || leaseExpiresAt;
      } catch (error) {
        if (isLeaseLost(error)) lost.abort(new LeaseLost(`task ${task.id} was cancelled or its lease was lost`));
        else if (Date.now() >= leaseExpiresAt) lost.abort(new LeaseLost(`task ${task.id}: lease expired while heartbeats failed`));
        throw error;
      }
    };
    const timer = setInterval(() => heartbeat().catch((error) => isLeaseLost(error) || onError(error, task)), (leaseSeconds * 1000) / 3);

    // Progress goes by heartbeats, one on its way at a time: `nextReport` is the latest report
    // made meanwhile, sent once the one on its way (`reporting`) has arrived.
    let nextReport: ProgressReport | undefined;
    let reporting: Promise<void> | undefined;
    const sendReport = () => {
      const report = nextReport!;
      nextReport = undefined;
      reporting = heartbeat(report)
        .catch((error: unknown) => {
          // A lost lease aborts the handler's signal (see heartbeat); anything else is reported.
          if (!isLeaseLost(error) && !lost.signal.aborted) onError(error, task);
        })
        .then(() => {
          reporting = undefined;
          if (nextReport && !lost.signal.aborted) sendReport();
        });
    };
    const progress = (percent: number, message?: string) => {
      if (typeof percent !== 'number' || !(percent >= 0 && percent <= 100)) throw new RangeError(`progress must be a number from 0 to 100, not ${String(percent)}`);
      if (lost.signal.aborted) return;
      nextReport = message === undefined ? { progress: percent } : { progress: percent, message: String(message).slice(0, MAX_PROGRESS_MESSAGE_LENGTH) };
      if (!reporting) sendReport();
    };

    try {
      // Held ahead for a while: the lease is renewed first, so that the handler starts with most of it.
      if (heldSince !== undefined && Date.now() - heldSince > (leaseSeconds * 1000) / 3) {
        try {
          await heartbeat();
        } catch (error) {
          if (lost.signal.aborted) return;
          throw error;
        }
      }
      const handler = await handlerFor(task);
      if (!handler) throw new Error(`no handler for task type ${task.task_type_id}`);
      let outcome: Outcome;
      try {
        const context: HandlerContext = { signal: lost.signal, heartbeat: () => heartbeat(), progress, workerId };
        outcome = { task, lease_id: task.lease_id, ok: true, result: await handler(task, context) };
      } catch (error) {
        const message = (error instanceof Error ? error.message : String(error)) || 'Handler failed';
        outcome = { task, lease_id: task.lease_id, ok: false, error_message: message.slice(0, 65_536) };
      }
      clearInterval(timer);
      // The last progress reported arrives before the outcome, which ends the lease.
      while (reporting) await reporting;
      if (lost.signal.aborted) return; // no longer ours to settle
      // The slot is free once the handler is done: its outcome goes with the next exchange, which
      // also claims the next tasks. stop() still waits for every outcome to be reported.
      outcomes.push(outcome);
    } catch (error) {
      onError(error, task);
    } finally {
      clearInterval(timer);
    }
  }

  function start(task: Task, heldSince?: number) {
    const done: Promise<void> = run(task, heldSince).finally(() => {
      running.delete(done);
      startHeld();
      schedulePump();
    });
    running.add(done);
  }

  /** Starts held tasks while handlers are free. */
  function startHeld() {
    while (running.size < concurrency && held.length > 0) {
      const next = held.shift()!;
      start(next.task, next.since);
    }
  }

  /** Looks at what to send once the current tick is over, so that outcomes of one tick travel together. */
  function schedulePump() {
    if (pumpScheduled) return;
    pumpScheduled = true;
    setImmediate(() => {
      pumpScheduled = false;
      pump();
    });
  }

  /**
   * Sends what there is to send: the outcomes waiting, with a claim for the free slots, in one
   * exchange (which never waits: outcomes must not wait for new tasks); or, with no outcome to
   * send, an exchange for the free slots that waits for tasks.
   */
  function pump() {
    const now = Date.now();
    if (now < backoffUntil) {
      setTimeout(schedulePump, backoffUntil - now);
      return;
    }
    const free = stopping ? 0 : concurrency + prefetch - running.size - held.length - asked;
    if (outcomes.length > 0 && !settling) {
      const sent = outcomes;
      outcomes = [];
      void exchange(sent, free, 0);
    } else if (free > 0 && !polling && !settling) {
      void exchange([], free, waitSeconds);
    }
    if (stopping && running.size === 0 && held.length === 0 && outcomes.length === 0 && !settling && !polling) idle?.();
  }

  async function exchange(sent: Outcome[], limit: number, wait: number): Promise<void> {
    const carries = sent.length > 0;
    if (carries) settling = true;
    else polling = true;
    asked += limit;
    try {
      const answer = await client.tasks.exchange.mutate(
        {
          worker_id: workerId,
          task_types: typeNames,
          limit,
          lease_seconds: leaseSeconds,
          wait_seconds: wait,
          completed: sent.flatMap((o) => (o.ok ? [{ task_id: o.task.id, lease_id: o.lease_id, result: o.result ?? null }] : [])),
          failed: sent.flatMap((o) => (o.ok ? [] : [{ task_id: o.task.id, lease_id: o.lease_id, error_message: o.error_message, retry: true }])),
        },
        carries ? {} : { signal: stopPolling.signal },
      );
      const byId = new Map(sent.map((o) => [o.task.id, o.task]));
      for (const outcome of answer.settled) {
        if ('error' in outcome) onError(new LeaseLost(`task ${outcome.task_id} was not settled: ${outcome.error.detail}`), byId.get(outcome.task_id));
      }
      const now = Date.now();
      for (const task of answer.tasks) held.push({ task, since: now });
      startHeld();
    } catch (error) {
      if (!carries && stopping) return;
      onError(error);
      if (carries && isRefused(error)) await settleOneByOne(sent);
      else if (carries && stopping) {
        // Stopping does not wait for a server that fails: the leases of these tasks will run out
        // and the tasks will be claimed again.
      } else {
        // Not lost: the outcomes go again with the next exchange, after a pause.
        outcomes = [...sent, ...outcomes];
        backoffUntil = Date.now() + RETRY_AFTER_ERROR_MS;
      }
    } finally {
      asked -= limit;
      if (carries) settling = false;
      else polling = false;
      schedulePump();
    }
  }

  /** The server refused the request as a whole (a result too large, say): no use sending it again. */
  const isRefused = (error: unknown) => {
    const status = errorInfo(error)?.httpStatus;
    return status !== undefined && status >= 400 && status < 500 && status !== 408 && status !== 429;
  };

  /** Settles outcomes with the single operations, so that one the server refuses does not hold up the others. */
  async function settleOneByOne(sent: Outcome[]): Promise<void> {
    await Promise.all(
      sent.map((o) => {
        const lease = { task_id: o.task.id, worker_id: workerId, lease_id: o.lease_id };
        const settled = o.ok
          ? client.tasks.complete.mutate({ ...lease, result: o.result ?? null })
          : client.tasks.fail.mutate({ ...lease, error_message: o.error_message, retry: true });
        return settled.then(
          () => undefined,
          (error: unknown) => onError(error, o.task),
        );
      }),
    );
  }

  const onSignal = () => void worker.stop();
  if (handleSignals) {
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
  }

  schedulePump();
  let stopPromise: Promise<void> | undefined;
  let markStopped!: () => void;
  const stopped = new Promise<void>((resolve) => (markStopped = resolve));

  const worker: Worker = {
    workerId,
    get active() {
      return running.size;
    },
    stop() {
      stopPromise ??= (async () => {
        stopping = true;
        stopPolling.abort();
        if (handleSignals) {
          process.off('SIGTERM', onSignal);
          process.off('SIGINT', onSignal);
        }
        // Running handlers finish, and every outcome is reported (retried while the server fails).
        await new Promise<void>((resolve) => {
          idle = resolve;
          schedulePump();
        });
        markStopped();
      })();
      return stopPromise;
    },
    stopped,
  };
  return worker;
}
