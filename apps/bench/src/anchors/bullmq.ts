/**
 * BullMQ on Redis as an anchor: PrismQ's scenarios with BullMQ used as a library in this process
 * (a `Queue` adds jobs, a `Worker` runs them), against the Redis server at `redisUrl`.
 *
 * Every scenario runs on its own queue, named after this run, which is obliterated afterwards.
 * Jobs keep BullMQ's defaults: `removeOnComplete` and `removeOnFail` unset, so finished jobs stay
 * in Redis (which is also what lets the lifecycle count them).
 */
import { randomUUID } from 'node:crypto';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { DRAIN_CONCURRENCY, throughput, type BenchPlan, type Log, type SystemResult } from '../figures.js';
import { CONNECT_TIMEOUT_MS, describe, hostPort, LIFECYCLE_BATCH, LIFECYCLE_TIMEOUT_MS, packageVersion, redact, STORAGE_BATCH, Tally, TRIAL_TIMEOUT_MS, within, type AnchorContext, type AnchorScenarios, type BenchData, runScenarios } from './common.js';

interface BenchResult {
  ok: boolean;
}
type BenchQueue = Queue<BenchData, BenchResult>;
type BenchWorker = Worker<BenchData, BenchResult>;

/** How long a failed reachability check may leave its socket to close. */
const DISCONNECT_TIMEOUT_MS = 200;

/** What the scenarios share. */
interface Context extends AnchorContext {
  redisUrl: string;
  /** Connection of every `Queue` (producers may share one); workers open their own. */
  producer: Redis;
  /** Connection for `INFO`, outside BullMQ. */
  admin: Redis;
  /** Prefix of this run's queue names. */
  run: string;
}

/** A field of an `INFO` reply. */
function infoField(info: string, field: string): string | undefined {
  return new RegExp(`^${field}:(.*)$`, 'm').exec(info)?.[1]?.trim();
}

/** Connects to Redis once, failing fast: the connection for `INFO`, or the reason it is unreachable. */
async function connectAdmin(redisUrl: string): Promise<Redis> {
  let lastError: unknown;
  const admin = new Redis(redisUrl, {
    lazyConnect: true,
    connectTimeout: CONNECT_TIMEOUT_MS,
    disconnectTimeout: DISCONNECT_TIMEOUT_MS,
    maxRetriesPerRequest: 1,
    retryStrategy: () => null,
  });
  admin.on('error', (error: unknown) => (lastError = error));
  try {
    // connectTimeout only covers the TCP connection, not a server that accepts and never answers.
    await within(admin.connect(), CONNECT_TIMEOUT_MS, 'connecting');
    return admin;
  } catch (error) {
    // A failed first connection is already closed; disconnecting again would leave a timer behind.
    if (admin.status !== 'end') admin.disconnect();
    throw new Error(describe(lastError ?? error), { cause: error });
  }
}

/** Runs `use` on a new queue of this run, then obliterates and closes it. */
async function withQueue<T>(ctx: Context, scenario: string, use: (queue: BenchQueue) => Promise<T>): Promise<T> {
  const queue: BenchQueue = new Queue<BenchData, BenchResult>(`${ctx.run}-${scenario}`, { connection: ctx.producer });
  queue.on('error', (error) => ctx.log(`bullmq: queue error: ${describe(error)}`));
  try {
    await queue.waitUntilReady();
    return await use(queue);
  } finally {
    try {
      await queue.obliterate({ force: true });
    } finally {
      await queue.close();
    }
  }
}

/**
 * Runs `use` with a worker on `queue` on its own connection, as BullMQ requires, then closes both.
 * `use` gets the count of the worker's `completed` events (emitted once a job is moved to
 * completed in Redis), counted from the worker's creation; a `failed` event fails the count.
 */
async function withWorker<T>(
  ctx: Context,
  queue: BenchQueue,
  concurrency: number,
  handler: () => Promise<BenchResult>,
  use: (completed: Tally) => Promise<T>,
): Promise<T> {
  const connection = new Redis(ctx.redisUrl, { maxRetriesPerRequest: null });
  try {
    const worker: BenchWorker = new Worker<BenchData, BenchResult>(queue.name, handler, { connection, concurrency });
    worker.on('error', (error) => ctx.log(`bullmq: worker error: ${describe(error)}`));
    const completed = new Tally();
    worker.on('completed', () => completed.add());
    worker.on('failed', (_job, error) => completed.fail(error));
    try {
      await worker.waitUntilReady();
      return await use(completed);
    } finally {
      await worker.close();
    }
  } finally {
    await connection.quit();
  }
}

/** `count` jobs with data `{ n }` numbered from `from`, for `addBulk`. */
function jobs(from: number, count: number): { name: string; data: BenchData }[] {
  return Array.from({ length: count }, (_, i) => ({ name: 'bench', data: { n: from + i } }));
}

/** Jobs added per second, one `add` per call, by `loops` concurrent callers. */
async function createRate(ctx: Context, loops: 1 | 32): Promise<number> {
  return withQueue(ctx, `create-${loops}`, async (queue) => {
    let n = 0;
    return throughput(ctx.plan, loops, async () => {
      await queue.add('bench', { n: n++ });
      return 1;
    });
  });
}

/** Jobs added per second, 100 per `addBulk`, by 4 concurrent callers. */
async function batchRate(ctx: Context): Promise<number> {
  return withQueue(ctx, 'batch-100', async (queue) => {
    let n = 0;
    return throughput(ctx.plan, 4, async () => {
      const added = await queue.addBulk(jobs(n, 100));
      n += added.length;
      return added.length;
    });
  });
}

/** Checks that Redis holds `tasks` completed jobs in `queue`. */
async function checkCompleted(queue: BenchQueue, tasks: number): Promise<void> {
  const counts = await queue.getJobCounts('completed');
  if (counts.completed !== tasks) throw new Error(`Redis holds ${counts.completed} completed jobs of ${tasks}`);
}

/**
 * Jobs per second through add → process → completed: a worker of `concurrency` runs while the
 * producer adds the plan's lifecycle jobs 100 at a time; the end is the worker's `completed`
 * event for the last of them, which BullMQ emits once the job is moved to completed in Redis.
 */
async function lifecycleRate(ctx: Context, concurrency: number): Promise<number> {
  const tasks = ctx.plan.lifecycleTasks;
  return withQueue(ctx, `lifecycle-${concurrency}`, (queue) =>
    withWorker(ctx, queue, concurrency, async () => ({ ok: true }), async (completed) => {
      const started = performance.now();
      for (let made = 0; made < tasks; made += LIFECYCLE_BATCH) {
        await queue.addBulk(jobs(made, Math.min(LIFECYCLE_BATCH, tasks - made)));
      }
      await within(completed.reached(tasks), LIFECYCLE_TIMEOUT_MS, `the lifecycle at concurrency ${concurrency}`);
      const seconds = (performance.now() - started) / 1000;
      await checkCompleted(queue, tasks);
      return tasks / seconds;
    }),
  );
}

/**
 * Jobs per second draining the plan's lifecycle jobs, all added (1,000 per `addBulk`) before a
 * worker of concurrency `DRAIN_CONCURRENCY` is created; from creating it (it starts at once) to
 * its `completed` event for the last job.
 */
async function drainRate(ctx: Context): Promise<number> {
  const tasks = ctx.plan.lifecycleTasks;
  return withQueue(ctx, 'drain', async (queue) => {
    for (let made = 0; made < tasks; made += STORAGE_BATCH) {
      await queue.addBulk(jobs(made, Math.min(STORAGE_BATCH, tasks - made)));
    }
    const started = performance.now();
    return withWorker(ctx, queue, DRAIN_CONCURRENCY, async () => ({ ok: true }), async (completed) => {
      await within(completed.reached(tasks), LIFECYCLE_TIMEOUT_MS, 'the drain');
      const seconds = (performance.now() - started) / 1000;
      await checkCompleted(queue, tasks);
      return tasks / seconds;
    });
  });
}

/**
 * Add → handler start, ms, one job at a time on an idle queue with a worker of concurrency 1,
 * each trial waiting for the previous job to be completed.
 */
async function latencySamples(ctx: Context): Promise<number[]> {
  let entered: ((at: number) => void) | undefined;
  const handler = async () => {
    entered?.(performance.now());
    return { ok: true };
  };
  return withQueue(ctx, 'latency', (queue) =>
    withWorker(ctx, queue, 1, handler, async (completed) => {
      const samples: number[] = [];
      for (let trial = 0; trial < ctx.plan.latencyTasks; trial++) {
        const handlerStarted = new Promise<number>((resolve) => (entered = resolve));
        const sent = performance.now();
        await queue.add('bench', { n: trial });
        samples.push((await within(handlerStarted, TRIAL_TIMEOUT_MS, `latency trial ${trial}`)) - sent);
        await within(completed.reached(trial + 1), TRIAL_TIMEOUT_MS, `latency trial ${trial}`);
      }
      return samples;
    }),
  );
}

/** Redis `used_memory`, bytes. */
async function usedMemory(admin: Redis): Promise<number> {
  const bytes = Number(infoField(await admin.info('memory'), 'used_memory'));
  if (!Number.isFinite(bytes)) throw new Error('INFO memory has no used_memory');
  return bytes;
}

/** Growth of Redis `used_memory` per waiting job, adding the plan's storage jobs to an empty queue. */
async function bytesPerJob(ctx: Context): Promise<number> {
  const tasks = ctx.plan.storageTasks;
  return withQueue(ctx, 'storage', async (queue) => {
    const before = await usedMemory(ctx.admin);
    for (let made = 0; made < tasks; made += STORAGE_BATCH) {
      await queue.addBulk(jobs(made, Math.min(STORAGE_BATCH, tasks - made)));
    }
    return ((await usedMemory(ctx.admin)) - before) / tasks;
  });
}

/** The scenarios, as `runScenarios` runs them. */
const SCENARIOS: AnchorScenarios<Context> = { batchCall: 'addBulk', create: createRate, batch: batchRate, lifecycle: lifecycleRate, drain: drainRate, latency: latencySamples, storage: bytesPerJob };

/** BullMQ's figures against the Redis at `redisUrl`, or `skipped` if it cannot be reached. */
export async function benchBullmq(plan: BenchPlan, redisUrl: string, log: Log): Promise<SystemResult> {
  const library = `bullmq ${packageVersion('bullmq')} (ioredis ${packageVersion('ioredis')})`;
  const result: SystemResult = { name: 'BullMQ', detail: library, figures: {} };
  let admin: Redis;
  try {
    admin = await connectAdmin(redisUrl);
  } catch (error) {
    return { ...result, skipped: `Redis is not reachable at ${redact(redisUrl)} (set REDIS_URL): ${describe(error)}` };
  }
  // Queues may keep ioredis's default retries, so that adding fails rather than waits if Redis goes away.
  const producer = new Redis(redisUrl);
  const notes = [
    'jobs keep BullMQ defaults (removeOnComplete/removeOnFail unset: finished jobs stay in Redis); producers share one connection, each worker has its own (maxRetriesPerRequest: null)',
    'lifecycle ends at the worker "completed" event of the last job (emitted after the job is moved to completed in Redis), checked against getJobCounts',
    "bytes per task: growth of Redis INFO used_memory, including the queue's events stream (capped at ~10,000 entries)",
  ];
  try {
    const server = await admin.info('server');
    result.detail = `${library}, Redis ${infoField(server, 'redis_version') ?? 'unknown'} at ${hostPort(redisUrl, 6379)}`;
    const ctx: Context = { plan, redisUrl, log, producer, admin, run: `prismq-bench-${randomUUID().slice(0, 8)}` };
    await runScenarios('bullmq', ctx, result.figures, notes, SCENARIOS);
  } catch (error) {
    notes.push(`stopped early: ${describe(error)}`);
  } finally {
    await Promise.allSettled([producer.quit(), admin.quit()]);
  }
  return { ...result, notes };
}
