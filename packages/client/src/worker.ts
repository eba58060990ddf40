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
  workerId: string;
}

/** Runs one task; its return value becomes the task's result, a thrown error fails the attempt. */
export type TaskHandler<Params = Record<string, unknown>> = (task: WorkerTask<Params>, context: HandlerContext) => unknown;

export interface WorkerOptions<Types extends Record<string, object>> extends Omit<PrismqClientOptions, 'batch'> {
  /** One handler per task type name. The type argument gives each type's parameters. */
  handlers: { [Name in keyof Types & string]: TaskHandler<Types[Name]> };
  /** Tasks run at once (default 1). */
  concurrency?: number;
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

class LeaseLost extends Error {}

/** Starts a worker at once; see WorkerOptions. */
export function createWorker<Types extends Record<string, object> = Record<string, Record<string, unknown>>>(
  options: WorkerOptions<Types>,
): Worker {
  const { handlers, concurrency = 1, leaseSeconds = 60, waitSeconds = 20, handleSignals = true } = options;
  const workerId = options.workerId ?? `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  const onError = options.onError ?? ((error: unknown) => console.error('[prismq worker]', error));
  // Completes, fails and heartbeats made in the same tick share one request; claims go alone.
  const client = createPrismqClient({ ...options, batch: true });
  const typeNames = Object.keys(handlers);

  let stopping = false;
  const stopClaiming = new AbortController();
  const running = new Set<Promise<void>>();
  /** Outcomes on their way to the server. */
  const reporting = new Set<Promise<void>>();
  let slotFreed: (() => void) | undefined;

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

  async function run(claimed: Task): Promise<void> {
    const task = claimed as WorkerTask<never>;
    const lease = { task_id: task.id, worker_id: workerId, lease_id: task.lease_id };
    const lost = new AbortController();
    let leaseExpiresAt = Date.parse(task.lease_expires_at ?? '') || Date.now() + leaseSeconds * 1000;

    const heartbeat = async () => {
      if (lost.signal.aborted) throw lost.signal.reason;
      try {
        const renewed = await client.tasks.heartbeat.mutate({ ...lease, lease_seconds: leaseSeconds });
        leaseExpiresAt = Date.parse(renewed.lease_expires_at ?? '') || leaseExpiresAt;
      } catch (error) {
        if (isLeaseLost(error)) lost.abort(new LeaseLost(`task ${task.id} was cancelled or its lease was lost`));
        else if (Date.now() >= leaseExpiresAt) lost.abort(new LeaseLost(`task ${task.id}: lease expired while heartbeats failed`));
        throw error;
      }
    };
    const timer = setInterval(() => heartbeat().catch((error) => isLeaseLost(error) || onError(error, task)), (leaseSeconds * 1000) / 3);

    try {
      const handler = await handlerFor(task);
      if (!handler) throw new Error(`no handler for task type ${task.task_type_id}`);
      let outcome: { ok: true; result: unknown } | { ok: false; error: unknown };
      try {
        outcome = { ok: true, result: await handler(task, { signal: lost.signal, heartbeat, workerId }) };
      } catch (error) {
        outcome = { ok: false, error };
      }
      clearInterval(timer);
      if (lost.signal.aborted) return; // no longer ours to settle
      // The slot is free once the handler is done: the outcome is reported while the next claim
      // goes out. stop() still waits for every report.
      const report = outcome.ok
        ? client.tasks.complete.mutate({ ...lease, result: outcome.result ?? null })
        : client.tasks.fail.mutate({
            ...lease,
            error_message: (outcome.error instanceof Error ? outcome.error.message : String(outcome.error)) || 'Handler failed',
            retry: true,
          });
      const reported: Promise<void> = report.then(
        () => undefined,
        (error: unknown) => onError(error, task),
      );
      reporting.add(reported);
      void reported.finally(() => reporting.delete(reported));
    } catch (error) {
      onError(error, task);
    } finally {
      clearInterval(timer);
    }
  }

  function start(task: Task) {
    const done: Promise<void> = run(task).finally(() => {
      running.delete(done);
      slotFreed?.();
    });
    running.add(done);
  }

  const pause = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      stopClaiming.signal.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true });
    });

  async function claimLoop(): Promise<void> {
    while (!stopping) {
      const free = concurrency - running.size;
      if (free <= 0) {
        await new Promise<void>((resolve) => (slotFreed = resolve));
        slotFreed = undefined;
        // Tasks settled together (one batched request) free their slots in the same tick: wait
        // for all of them, so that one claim asks for every free slot.
        await new Promise((resolve) => setImmediate(resolve));
        continue;
      }
      try {
        const tasks = await client.tasks.claim.mutate(
          { worker_id: workerId, task_types: typeNames, limit: free, lease_seconds: leaseSeconds, wait_seconds: waitSeconds },
          { signal: stopClaiming.signal },
        );
        tasks.forEach(start);
      } catch (error) {
        if (stopping) break;
        onError(error);
        await pause(RETRY_AFTER_ERROR_MS);
      }
    }
  }

  const onSignal = () => void worker.stop();
  if (handleSignals) {
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
  }

  const loop = claimLoop();
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
        stopClaiming.abort();
        slotFreed?.();
        if (handleSignals) {
          process.off('SIGTERM', onSignal);
          process.off('SIGINT', onSignal);
        }
        await loop;
        await Promise.all(running);
        await Promise.all(reporting);
        markStopped();
      })();
      return stopPromise;
    },
    stopped,
  };
  return worker;
}
