/**
 * The worker runtime: long-polls the API for tasks of the types it has handlers for, runs them
 * with bounded concurrency, keeps their leases alive, and reports each outcome. For Node.js (it
 * names itself after the host and handles SIGTERM), so it is its own entry point:
 *
 * ```ts
 * import { createWorker } from '@prismq/client/worker';
 * import { sendEmail } from './task-types.js'; // defineTaskType('send_email', { parameters, result })
 *
 * const worker = createWorker({
 *   url: 'http://localhost:8000',
 *   taskTypes: [sendEmail],
 *   handlers: {
 *     // task.parameters parsed by the definition's schema; the return value checked by its result schema
 *     send_email: async (task, { signal }) => ({ messageId: await mailer.send(task.parameters, { signal }) }),
 *   },
 * });
 * ```
 *
 * Or typed by a map of names to parameters (as `prismq types codegen` writes for types defined
 * elsewhere), with no schemas checked here:
 *
 * ```ts
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
import { pino } from 'pino';
import { createPrismqClient, type PrismqClientOptions, type Task } from './index.js';
import { ConnectionError, errorFor, LeaseLostError, NotFoundError, PrismqError, UnavailableError } from './errors.js';
import { createNodeFetch } from './node-fetch.js';
import { parseWith, type AnyTaskTypeDefinition, type HandlerResultOf, type ParsedParametersOf } from './task-types.js';

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
export type TaskHandler<Params = Record<string, unknown>, Result = unknown> = (task: WorkerTask<Params>, context: HandlerContext) => Result | Promise<Result>;

/**
 * Where the worker says what happens: a pino logger, or anything with pino's `(object, message)`
 * methods. Each entry carries `worker_id`, and for a task `task_id`, `task_type` and `attempt`.
 */
export interface WorkerLogger {
  debug(fields: object, message?: string): void;
  info(fields: object, message?: string): void;
  warn(fields: object, message?: string): void;
  error(fields: object, message?: string): void;
}

/** The options of every worker, whichever way its handlers are typed. */
export interface BaseWorkerOptions extends Omit<PrismqClientOptions, 'batch'> {
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
  /**
   * How long stop() (and SIGTERM) lets running handlers finish, in milliseconds (default: as long
   * as they take). Past it, their signals are aborted and their attempts failed ("the worker
   * stopped"), so that their tasks are retried (per their retry policy) without waiting for
   * their leases to expire; then stop() resolves.
   */
  shutdownTimeoutMs?: number;
  /**
   * Where the worker logs handler failures, lost leases, cancellations, lost and regained
   * connections, start and stop (see WorkerLogger). Default: a pino logger at `logLevel` on
   * standard output.
   */
  logger?: WorkerLogger;
  /** The level of the default logger: `debug` adds each task's start and end. Default `info`. */
  logLevel?: 'debug' | 'info' | 'warn' | 'error' | 'silent';
  /** Also called with each error that does not belong to a handler's outcome (network, lost leases). */
  onError?: (error: unknown, task?: Task) => void;
}

/** A worker typed by a map of task type names to their parameters (no schemas checked here). */
export interface WorkerOptions<Types extends Record<string, object>> extends BaseWorkerOptions {
  /** One handler per task type name. The type argument gives each type's parameters. */
  handlers: { [Name in keyof Types & string]: TaskHandler<Types[Name]> };
}

/**
 * A worker for task types defined in code (defineTaskType): each handler receives its task's
 * parameters parsed by the definition's schema (parameters that fail it fail the attempt for
 * good, without a retry), and must return what its result schema takes (checked before the task
 * completes; a result that fails it fails the attempt for good).
 */
export interface TaskTypeWorkerOptions<Defs extends readonly AnyTaskTypeDefinition[]> extends BaseWorkerOptions {
  /** The definitions this worker runs; its handlers are keyed by their names. */
  taskTypes: Defs;
  handlers: { [Name in Defs[number]['name']]: TaskHandler<ParsedParametersOf<Extract<Defs[number], { name: Name }>>, HandlerResultOf<Extract<Defs[number], { name: Name }>>> };
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

/** A lease that is no longer this worker's (a LeaseLostError the worker noticed itself, such as one that ran out while heartbeats failed). */
const leaseLostError = (detail: string) => new LeaseLostError({ status: 409, detail, reason: 'lease_lost' });

/** A finished attempt on its way to the server. */
type Outcome =
  | { task: Task; lease_id: string; ok: true; result: unknown }
  | { task: Task; lease_id: string; ok: false; error_message: string; retry: boolean };

/** A failed attempt's message: the error's, at most 64 KiB. */
const messageOf = (error: unknown) => ((error instanceof Error ? error.message : String(error)) || 'Handler failed').slice(0, 65_536);

/**
 * The options of createWorker: with `taskTypes`, handlers typed by those definitions
 * (TaskTypeWorkerOptions); without, by the `Types` map (WorkerOptions).
 */
export type CreateWorkerOptions<Types extends Record<string, object>, Defs extends readonly AnyTaskTypeDefinition[]> = Defs extends readonly []
  ? WorkerOptions<Types> & { taskTypes?: Defs }
  : TaskTypeWorkerOptions<Defs>;

/**
 * Starts a worker at once: for task types defined in code (`taskTypes`, see
 * TaskTypeWorkerOptions), or typed by a map of names to parameters given as the type argument
 * (see WorkerOptions).
 */
export function createWorker<Types extends Record<string, object> = Record<string, Record<string, unknown>>, const Defs extends readonly AnyTaskTypeDefinition[] = readonly []>(
  options: CreateWorkerOptions<Types, Defs>,
): Worker {
  const { concurrency = 1, prefetch = 0, leaseSeconds = 60, waitSeconds = 20, handleSignals = true, shutdownTimeoutMs } = options;
  const handlers = options.handlers as Record<string, TaskHandler<never> | undefined>;
  const definitions = new Map<string, AnyTaskTypeDefinition>((options.taskTypes ?? []).map((definition) => [definition.name, definition]));
  const workerId = options.workerId ?? `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  const logger: WorkerLogger = options.logger ?? pino({ name: 'prismq-worker', level: options.logLevel ?? 'info' });
  const fieldsOf = (task: Task, typeName?: string) => ({ worker_id: workerId, task_id: task.id, task_type: typeName ?? task.task_type_id, attempt: task.attempts, max_attempts: task.max_attempts });
  /** An error outside a handler's outcome: logged, and passed to onError. */
  const onError = (error: unknown, task?: Task) => {
    logger.error({ worker_id: workerId, ...(task ? fieldsOf(task) : {}), err: error }, task ? 'error while handling a task' : 'worker error');
    options.onError?.(error, task);
  };
  // Heartbeats made in the same tick share one request; exchanges go alone (one may long-poll).
  // Without a fetch of the user's, calls go over node:http's keep-alive connections (node-fetch.ts).
  const client = createPrismqClient({ ...options, batch: true, fetch: options.fetch ?? createNodeFetch() });
  const typeNames = Object.keys(handlers);

  let stopping = false;
  const stopPolling = new AbortController();
  /** Handlers running, by task id. */
  const running = new Map<number, Promise<void>>();
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

  /** The task is no longer this worker's: settled, cancelled, deleted, or claimed again. */
  const isLeaseLost = (error: unknown) => error instanceof LeaseLostError || error instanceof NotFoundError;

  /** A task's type by id: its name and handler, looked up once per type and shared by the tasks claimed together. */
  const typeById = new Map<number, Promise<{ name: string; handler: TaskHandler<never> | undefined }>>();
  function typeOf(task: Task) {
    let type = typeById.get(task.task_type_id);
    if (!type) {
      type = client.taskTypes.get.query({ task_type_id: task.task_type_id }).then(({ name }) => ({ name, handler: handlers[name] }));
      typeById.set(task.task_type_id, type);
      // A failed lookup is asked again for the next task.
      type.catch(() => typeById.delete(task.task_type_id));
    }
    return type;
  }

  /** Says why a task was taken away: cancelled (info), or its lease lost (warn), as the task now stands. */
  function reportLost(task: Task, typeName: string | undefined, error: unknown) {
    void client.tasks.get.query({ task_id: task.id }).then(
      (now) =>
        now.status === 'cancelled'
          ? logger.info(fieldsOf(task, typeName), 'task cancelled: its handler was aborted, and its outcome will not be reported')
          : logger.warn({ ...fieldsOf(task, typeName), status: now.status, err: error }, 'lease lost: its handler was aborted, and its outcome will not be reported'),
      (readError: unknown) =>
        readError instanceof NotFoundError
          ? logger.warn({ ...fieldsOf(task, typeName), err: error }, 'lease lost (the task is gone): its handler was aborted')
          : // The server does not answer now: the lease ran out while heartbeats failed, say.
            logger.warn({ ...fieldsOf(task, typeName), err: error }, 'lease lost: its handler was aborted, and its outcome will not be reported'),
    );
  }

  /** Running handlers, by task id: how to give each up when stop() runs out of time. */
  const abandon = new Map<number, () => void>();

  async function run(claimed: Task, heldSince?: number): Promise<void> {
    const task = claimed as WorkerTask<never>;
    const lease = { task_id: task.id, worker_id: workerId, lease_id: task.lease_id };
    const lost = new AbortController();
    let typeName: string | undefined;
    let leaseExpiresAt = Date.parse(task.lease_expires_at ?? '') || Date.now() + leaseSeconds * 1000;

    const loseLease = (error: unknown) => {
      if (lost.signal.aborted) return;
      lost.abort(error);
      reportLost(task, typeName, error);
    };
    const heartbeat = async (report?: ProgressReport) => {
      if (lost.signal.aborted) throw lost.signal.reason;
      try {
        const renewed = await client.tasks.heartbeat.mutate({ ...lease, lease_seconds: leaseSeconds, ...report });
        leaseExpiresAt = Date.parse(renewed.lease_expires_at ?? '') || leaseExpiresAt;
        reconnected();
      } catch (error) {
        if (isLeaseLost(error)) loseLease(error);
        else if (Date.now() >= leaseExpiresAt) loseLease(leaseLostError(`Task ${task.id}: its lease expired while heartbeats failed`));
        throw error;
      }
    };
    const timer = setInterval(() => heartbeat().catch((error) => isLeaseLost(error) || lost.signal.aborted || callFailed(error, task)), (leaseSeconds * 1000) / 3);

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
          if (!isLeaseLost(error) && !lost.signal.aborted) callFailed(error, task);
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

    // stop() ran out of time (shutdownTimeoutMs): the handler's signal is aborted and the attempt
    // failed now, so that the task is retried without waiting for its lease to run out.
    let abandoned = false;
    abandon.set(task.id, () => {
      if (lost.signal.aborted) return;
      abandoned = true;
      lost.abort(new Error('the worker stopped'));
      running.delete(task.id);
      logger.warn(fieldsOf(task, typeName), 'stopping: the handler did not finish within shutdownTimeoutMs; its attempt is failed so that the task is retried');
      outcomes.push({ task, lease_id: task.lease_id, ok: false, error_message: 'The worker stopped before the handler finished (shutdownTimeoutMs)', retry: true });
    });
    const fail = (message: string, retry: boolean): Outcome => ({ task, lease_id: task.lease_id, ok: false, error_message: message.slice(0, 65_536), retry });

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
      // The type's name, which a server that does not answer now (a ConnectionError, a 503) is asked
      // again for, every second, while the lease (kept by heartbeats meanwhile) holds and the worker
      // is not stopping; the worker says once that the server does not answer, as for its exchanges.
      let type: Awaited<ReturnType<typeof typeOf>>;
      for (let failed = false; ; failed = true) {
        try {
          type = await typeOf(task);
          if (failed) reconnected();
          break;
        } catch (error) {
          if (!(error instanceof UnavailableError) || lost.signal.aborted || abandoned || stopping || Date.now() >= leaseExpiresAt) throw error;
          disconnected(error);
          await new Promise((resolve) => setTimeout(resolve, RETRY_AFTER_ERROR_MS));
        }
      }
      typeName = type.name;
      if (!type.handler) throw new Error(`no handler for task type '${type.name}'`);
      const definition = definitions.get(type.name);
      let outcome: Outcome;
      const parsed = definition ? await parseWith(definition.parameters, task.parameters) : { ok: true as const, value: task.parameters };
      if (!parsed.ok) {
        // The server checked them against the same definition's JSON Schema: a definition changed since, or refinements only the schema has.
        outcome = fail(`parameters do not match the task type's schema: ${parsed.problems.join('; ')}`, false);
        logger.warn({ ...fieldsOf(task, typeName), problems: parsed.problems }, 'parameters do not match the definition: the attempt is failed without a retry');
      } else {
        logger.debug(fieldsOf(task, typeName), 'task started');
        try {
          const context: HandlerContext = { signal: lost.signal, heartbeat: () => heartbeat(), progress, workerId };
          const returned: unknown = await type.handler({ ...task, parameters: parsed.value as never }, context);
          const result = definition?.result ? await parseWith(definition.result, returned) : { ok: true as const, value: returned };
          if (result.ok) {
            outcome = { task, lease_id: task.lease_id, ok: true, result: result.value };
            logger.debug(fieldsOf(task, typeName), 'task completed');
          } else {
            outcome = fail(`the handler's result does not match the task type's result schema: ${result.problems.join('; ')}`, false);
            logger.error({ ...fieldsOf(task, typeName), problems: result.problems }, "the handler's result does not match the definition: the attempt is failed without a retry");
          }
        } catch (error) {
          outcome = fail(messageOf(error), true);
          if (!lost.signal.aborted) {
            const last = task.attempts >= task.max_attempts;
            logger.warn({ ...fieldsOf(task, typeName), err: error }, last ? 'handler failed on its last attempt: the task fails' : 'handler failed: the task will be retried');
          }
        }
      }
      clearInterval(timer);
      // The last progress reported arrives before the outcome, which ends the lease.
      while (reporting) await reporting;
      if (lost.signal.aborted || abandoned) return; // no longer ours to settle
      // The slot is free once the handler is done: its outcome goes with the next exchange, which
      // also claims the next tasks. stop() still waits for every outcome to be reported.
      outcomes.push(outcome);
    } catch (error) {
      onError(error, task);
      // Not run: the attempt is failed now (and retried per the type's policy) rather than left
      // to its lease running out.
      if (!lost.signal.aborted && !abandoned) outcomes.push(fail(`the worker could not run the task: ${messageOf(error)}`, true));
    } finally {
      clearInterval(timer);
      abandon.delete(task.id);
    }
  }

  function start(task: Task, heldSince?: number) {
    const done: Promise<void> = run(task, heldSince).finally(() => {
      if (running.get(task.id) === done) running.delete(task.id);
      startHeld();
      schedulePump();
    });
    running.set(task.id, done);
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
          failed: sent.flatMap((o) => (o.ok ? [] : [{ task_id: o.task.id, lease_id: o.lease_id, error_message: o.error_message, retry: o.retry }])),
        },
        carries ? {} : { signal: stopPolling.signal },
      );
      reconnected();
      const byId = new Map(sent.map((o) => [o.task.id, o.task]));
      for (const outcome of answer.settled) {
        if (!('error' in outcome)) continue;
        // Refused one by one: 409 when the lease was lost meanwhile (cancelled, or claimed again after it expired), 404 when the task is gone.
        const { status, detail } = outcome.error;
        const error = errorFor({ status, detail, reason: status === 409 ? 'lease_lost' : undefined });
        const task = byId.get(outcome.task_id)!;
        logger.warn({ ...fieldsOf(task), err: error }, 'outcome not recorded: the task is no longer leased to this worker');
        options.onError?.(error, task);
      }
      const now = Date.now();
      for (const task of answer.tasks) held.push({ task, since: now });
      startHeld();
    } catch (error) {
      if (!carries && stopping) return;
      if (error instanceof UnavailableError) disconnected(error);
      else onError(error);
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
  const isRefused = (error: unknown) => error instanceof PrismqError && error.status >= 400 && error.status < 500 && !error.retryable;

  /** When the server stopped answering (unreachable, or 503/507), to say so once, and again once it answers. */
  let downSince: number | undefined;
  function disconnected(error: UnavailableError, task?: Task) {
    if (downSince === undefined) {
      downSince = Date.now();
      const what = error instanceof ConnectionError ? 'cannot reach the server' : 'the server is unavailable';
      logger.warn({ worker_id: workerId, err: error }, `${what}: trying again every ${RETRY_AFTER_ERROR_MS / 1000} s; finished outcomes are kept until it answers`);
    }
    options.onError?.(error, task);
  }
  /** A heartbeat or report that failed: said once while the server does not answer (see disconnected), else logged. */
  function callFailed(error: unknown, task: Task) {
    if (error instanceof UnavailableError) disconnected(error, task);
    else onError(error, task);
  }
  function reconnected() {
    if (downSince === undefined) return;
    logger.info({ worker_id: workerId, down_ms: Date.now() - downSince }, 'the server answers again');
    downSince = undefined;
  }

  /** Settles outcomes with the single operations, so that one the server refuses does not hold up the others. */
  async function settleOneByOne(sent: Outcome[]): Promise<void> {
    await Promise.all(
      sent.map((o) => {
        const lease = { task_id: o.task.id, worker_id: workerId, lease_id: o.lease_id };
        const settled = o.ok
          ? client.tasks.complete.mutate({ ...lease, result: o.result ?? null })
          : client.tasks.fail.mutate({ ...lease, error_message: o.error_message, retry: o.retry });
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

  logger.info({ worker_id: workerId, task_types: typeNames, concurrency, prefetch }, 'worker started');
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
        logger.info({ worker_id: workerId, running: running.size, held: held.length }, 'worker stopping: running handlers finish, and their outcomes are reported');
        // Running handlers finish, and every outcome is reported (retried while the server fails);
        // past shutdownTimeoutMs, the handlers still running are given up (see abandon).
        const timeout = shutdownTimeoutMs === undefined ? undefined : setTimeout(() => {
          for (const giveUp of abandon.values()) giveUp();
          schedulePump();
        }, shutdownTimeoutMs);
        await new Promise<void>((resolve) => {
          idle = resolve;
          schedulePump();
        });
        clearTimeout(timeout);
        logger.info({ worker_id: workerId }, 'worker stopped');
        markStopped();
      })();
      return stopPromise;
    },
    stopped,
  };
  return worker;
}
