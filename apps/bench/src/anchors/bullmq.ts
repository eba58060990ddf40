/**
 * BullMQ on Redis as an anchor: PrismQ's scenarios with BullMQ used as a library in this process
 * (a `Queue` adds jobs, a `Worker` runs them), against a Redis server. It runs twice: on the
 * Redis at `REDIS_URL`, which here persists nothing, and on a Redis this benchmark starts with
 * `--appendonly yes --appendfsync always` (./redis-server.ts), which fsyncs every write before
 * answering, as PrismQ commits every write durably.
 *
 * Every scenario runs on its own queue, named after this run, which is obliterated afterwards.
 * Jobs keep BullMQ's defaults: `removeOnComplete` and `removeOnFail` unset, so finished jobs stay
 * in Redis (which is also what lets the lifecycle count them). The server side's CPU is Redis's
 * own, from `INFO cpu` (see ../cpu.ts).
 */
import { randomUUID } from 'node:crypto';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { redisCpuMs, type CpuWindow } from '../cpu.js';
import { DRAIN_CONCURRENCY, throughput, type BenchPlan, type Log, type SystemResult } from '../figures.js';
import { runScenarios, type ScenarioContext, type Scenarios } from '../scenarios.js';
import { CONNECT_TIMEOUT_MS, describe, hostPort, LIFECYCLE_BATCH, LIFECYCLE_TIMEOUT_MS, packageVersion, redact, STORAGE_BATCH, Tally, TRIAL_TIMEOUT_MS, within, type BenchData } from './common.js';
import { startRedisServer } from './redis-server.js';

interface BenchResult {
  ok: boolean;
}
type BenchQueue = Queue<BenchData, BenchResult>;
type BenchWorker = Worker<BenchData, BenchResult>;

/** How long a failed reachability check may leave its socket to close. */
const DISCONNECT_TIMEOUT_MS = 200;

/** What the scenarios share. */
interface Context extends ScenarioContext {
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
async function createRate(ctx: Context, loops: 1 | 32, cpu: CpuWindow): Promise<number> {
  return withQueue(ctx, `create-${loops}`, async (queue) => {
    let n = 0;
    return throughput(
      ctx.plan,
      loops,
      async () => {
        await queue.add('bench', { n: n++ });
        return 1;
      },
      cpu,
    );
  });
}

/** Jobs added per second, 100 per `addBulk`, by 4 concurrent callers. */
async function batchRate(ctx: Context, cpu: CpuWindow): Promise<number> {
  return withQueue(ctx, 'batch-100', async (queue) => {
    let n = 0;
    return throughput(
      ctx.plan,
      4,
      async () => {
        const added = await queue.addBulk(jobs(n, 100));
        n += added.length;
        return added.length;
      },
      cpu,
    );
  });
}

/** Checks that Redis holds `tasks` completed jobs in `queue`. */
async function checkCompleted(queue: BenchQueue, tasks: number): Promise<void> {
  const counts = await queue.getJobCounts('completed');
  if (counts.completed !== tasks) throw new Error(`Redis holds ${counts.completed} completed jobs of ${tasks}`);
}

/**
 * Jobs per second through add → process → completed: a worker of `concurrency` runs while the
 * producer adds `tasks` jobs 100 at a time; the end is the worker's `completed` event for the
 * last of them, which BullMQ emits once the job is moved to completed in Redis.
 */
async function lifecycleRate(ctx: Context, concurrency: number, tasks: number, cpu: CpuWindow): Promise<number> {
  return withQueue(ctx, `lifecycle-${concurrency}`, (queue) =>
    withWorker(ctx, queue, concurrency, async () => ({ ok: true }), async (completed) => {
      cpu.start();
      const started = performance.now();
      for (let made = 0; made < tasks; made += LIFECYCLE_BATCH) {
        await queue.addBulk(jobs(made, Math.min(LIFECYCLE_BATCH, tasks - made)));
      }
      await within(completed.reached(tasks), LIFECYCLE_TIMEOUT_MS, `the lifecycle at concurrency ${concurrency}`);
      const seconds = (performance.now() - started) / 1000;
      cpu.end(tasks);
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
async function drainRate(ctx: Context, cpu: CpuWindow): Promise<number> {
  const tasks = ctx.plan.lifecycleTasks;
  return withQueue(ctx, 'drain', async (queue) => {
    for (let made = 0; made < tasks; made += STORAGE_BATCH) {
      await queue.addBulk(jobs(made, Math.min(STORAGE_BATCH, tasks - made)));
    }
    cpu.start();
    const started = performance.now();
    return withWorker(ctx, queue, DRAIN_CONCURRENCY, async () => ({ ok: true }), async (completed) => {
      await within(completed.reached(tasks), LIFECYCLE_TIMEOUT_MS, 'the drain');
      const seconds = (performance.now() - started) / 1000;
      cpu.end(tasks);
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
const SCENARIOS: Scenarios<Context> = { batchCall: 'addBulk', create: createRate, batch: batchRate, lifecycle: lifecycleRate, drain: drainRate, latency: latencySamples, storage: bytesPerJob };

/** How BullMQ is set up on either Redis, for the report. */
const NOTES = [
  'jobs keep BullMQ defaults (removeOnComplete/removeOnFail unset: finished jobs stay in Redis); producers share one connection, each worker has its own (maxRetriesPerRequest: null)',
  'lifecycle ends at the worker "completed" event of the last job (emitted after the job is moved to completed in Redis), checked against getJobCounts',
  "bytes per task: growth of Redis INFO used_memory, including the queue's events stream (capped at ~10,000 entries); server CPU: Redis INFO cpu (used_cpu_user + used_cpu_sys, children included)",
];

/**
 * BullMQ's figures against the Redis at `redisUrl`, as system `name` (logged as `system`), or
 * `skipped` if it cannot be reached. `setup` says how that Redis persists, for the detail line.
 */
export async function benchBullmq(plan: BenchPlan, redisUrl: string, log: Log, variant: { name: string; system: string; setup: string; notes?: string[] }): Promise<SystemResult> {
  const library = `bullmq ${packageVersion('bullmq')} (ioredis ${packageVersion('ioredis')})`;
  const result: SystemResult = { name: variant.name, detail: library, figures: {} };
  let admin: Redis;
  try {
    admin = await connectAdmin(redisUrl);
  } catch (error) {
    return { ...result, skipped: `Redis is not reachable at ${redact(redisUrl)} (set REDIS_URL): ${describe(error)}` };
  }
  // Queues may keep ioredis's default retries, so that adding fails rather than waits if Redis goes away.
  const producer = new Redis(redisUrl);
  const notes = [...(variant.notes ?? []), ...NOTES];
  try {
    const server = await admin.info('server');
    result.detail = `${library}, Redis ${infoField(server, 'redis_version') ?? 'unknown'} at ${hostPort(redisUrl, 6379)}, ${variant.setup}`;
    const serverCpu = async () => redisCpuMs(await admin.info('cpu'));
    const ctx: Context = { plan, redisUrl, log, serverCpu, producer, admin, run: `prismq-bench-${randomUUID().slice(0, 8)}` };
    await runScenarios(variant.system, ctx, result.figures, notes, SCENARIOS);
  } catch (error) {
    notes.push(`stopped early: ${describe(error)}`);
  } finally {
    await Promise.allSettled([producer.quit(), admin.quit()]);
  }
  return { ...result, notes };
}

/** How the Redis at `redisUrl` persists, from `CONFIG GET appendonly appendfsync save`: a phrase, and whether it persists at all. */
async function persistence(redisUrl: string): Promise<{ setup: string; persists: boolean }> {
  const admin = await connectAdmin(redisUrl);
  try {
    const config = (await admin.config('GET', 'appendonly', 'appendfsync', 'save')) as string[];
    const value = (key: string) => config[config.indexOf(key) + 1] ?? '';
    const aof = value('appendonly') === 'yes';
    const rdb = value('save');
    return {
      setup: `${aof ? `appendonly yes, appendfsync ${value('appendfsync')}` : 'appendonly no'}, ${rdb ? `RDB snapshots (save "${rdb}")` : 'no RDB snapshots'}`,
      persists: aof || rdb !== '',
    };
  } finally {
    admin.disconnect();
  }
}

/** BullMQ on the Redis at `redisUrl`, as it is set up (here: without persistence). */
export async function benchBullmqAsGiven(plan: BenchPlan, redisUrl: string, log: Log): Promise<SystemResult> {
  const { setup, persists } = await persistence(redisUrl).catch((error: unknown) => ({ setup: `persistence unknown (${describe(error)})`, persists: true }));
  const name = persists ? 'BullMQ (Redis at REDIS_URL)' : 'BullMQ (Redis, no persistence)';
  return benchBullmq(plan, redisUrl, log, { name, system: 'bullmq', setup });
}

/**
 * BullMQ on a Redis started for it, with every write fsync'd before Redis answers
 * (`--appendonly yes --appendfsync always --save ""`, in a temporary folder), stopped and its
 * folder removed afterwards; skipped if `redis-server` cannot be found or started.
 */
export async function benchBullmqFsync(plan: BenchPlan, log: Log): Promise<SystemResult> {
  const name = 'BullMQ (Redis, appendfsync always)';
  const started = await startRedisServer(['--appendonly', 'yes', '--appendfsync', 'always', '--save', ''], log);
  if ('skipped' in started) return { name, detail: '', figures: {}, skipped: started.skipped };
  try {
    const { setup } = await persistence(started.url);
    return await benchBullmq(plan, started.url, log, {
      name,
      system: 'bullmq-fsync',
      setup: `${setup}, started by the benchmark`,
      notes: [`a redis-server started for this run: ${started.command}, in a temporary folder removed afterwards`],
    });
  } finally {
    await started.stop();
  }
}
