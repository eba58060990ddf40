/**
 * pg-boss on PostgreSQL as an anchor, tuned for throughput and latency: PrismQ's scenarios with
 * pg-boss used as a library in this process (`send`/`insert` add jobs; a consumer loop of
 * `fetch` and `complete` runs them), against the server at `postgresUrl`.
 *
 * pg-boss lives in its own schema, dropped before and after the run; every scenario runs on its
 * own queue (a partition of the job table), deleted afterwards. Maintenance and cron scheduling
 * are off (`supervise: false`, `schedule: false`) so that no archiving or expiry runs meanwhile.
 *
 * Why not `work()`: pg-boss 10's worker fetches up to `batchSize` jobs, hands them to the handler
 * as one batch, and then waits out the rest of `pollingIntervalSeconds` (at least 0.5 s) after
 * every fetch, even a full one, so its throughput is `batchSize` / 0.5 s by construction. The
 * consumer here is what pg-boss's documentation offers for a worker that wants more: `fetch()`
 * with `batchSize` (batch fetching) and `complete()` with the batch's ids, fetching again at once
 * while it finds jobs, and waiting the minimum polling interval (0.5 s, the lowest latency
 * `work()` allows) only after a fetch that found none. Like `work()`, it does not wait for a
 * batch's `complete()` before fetching the next batch (one `complete()` in flight at most).
 */
import PgBoss from 'pg-boss';
import type { CpuWindow } from '../cpu.js';
import { DRAIN_CONCURRENCY, throughput, type BenchPlan, type Log, type SystemResult } from '../figures.js';
import { benchOnPostgres, type PostgresAnchor } from '../postgres.js';
import type { ScenarioContext, Scenarios } from '../scenarios.js';
import { describe, LIFECYCLE_BATCH, LIFECYCLE_TIMEOUT_MS, packageVersion, sleep, STORAGE_BATCH, Tally, TRIAL_TIMEOUT_MS, within, type BenchData } from './common.js';

const SCHEMA = 'prismq_bench_pgboss';
/** pg-boss's minimum polling interval (`pollingIntervalSeconds: 0.5`): the consumer's wait after an empty fetch. */
const POLLING_INTERVAL_MS = 500;
/**
 * Latency trials run in this many lanes at once, each on its own queue with its own idle
 * consumer, so that the plan's trials (each waiting about one polling interval) fit in the run.
 */
const LATENCY_LANES = 10;
/** Connections in pg-boss's pool (its default is 10): enough for the 32 callers of create_32. */
const POOL_SIZE = 32;


/** What the scenarios share. */
interface Context extends PostgresAnchor, ScenarioContext {
  boss: PgBoss;
}

/** Runs `use` on new queues of this run, one per scenario named, then deletes them and their partitions. */
async function withQueues<T>(ctx: Context, scenarios: string[], use: (names: string[]) => Promise<T>): Promise<T> {
  const names = scenarios.map((scenario) => `${ctx.run}-${scenario}`);
  // One at a time: pg-boss 10 creates and drops a partition per queue, and concurrent DDL on
  // the partitioned job table deadlocks.
  const created: string[] = [];
  try {
    for (const name of names) {
      await ctx.boss.createQueue(name);
      created.push(name);
    }
    return await use(names);
  } finally {
    for (const name of created) {
      // pg-boss 10's deleteQueue refuses a queue that still has jobs (its foreign key restricts).
      await ctx.sql.query(`DELETE FROM ${SCHEMA}.job WHERE name = $1`, [name]);
      await ctx.boss.deleteQueue(name);
    }
  }
}

/** Runs `use` on a new queue of this run, then deletes it and its partition. */
const withQueue = <T>(ctx: Context, scenario: string, use: (name: string) => Promise<T>): Promise<T> =>
  withQueues(ctx, [scenario], ([name]) => use(name!));

/** A running consumer: the jobs it has completed (recorded by pg-boss), and how to stop it. */
interface Consumer {
  completed: Tally;
  stop(): Promise<void>;
}

/**
 * Starts the consumer loop on `queue` (see the top of this file): fetch up to `batchSize` jobs,
 * run `handler` on all of them at once, complete them with one `complete()`, and fetch again at
 * once while fetches find jobs; after an empty fetch, wait the minimum polling interval.
 */
function startConsumer(ctx: Context, queue: string, batchSize: number, handler: (job: PgBoss.Job<BenchData>) => unknown): Consumer {
  const completed = new Tally();
  let stopping = false;
  let failure: Error | undefined;
  let wake: (() => void) | undefined;
  const idle = () =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, POLLING_INTERVAL_MS);
      wake = () => (clearTimeout(timer), resolve());
    });
  const loop = async () => {
    let completing: Promise<void> = Promise.resolve();
    while (!stopping && !failure) {
      const jobs = await ctx.boss.fetch<BenchData>(queue, { batchSize });
      if (jobs.length === 0) {
        if (!stopping) await idle();
        continue;
      }
      await Promise.all(jobs.map(async (job) => handler(job)));
      await completing;
      const ids = jobs.map((job) => job.id);
      completing = ctx.boss.complete(queue, ids).then(
        () => completed.add(ids.length),
        (error: unknown) => void (failure = error instanceof Error ? error : new Error(describe(error))),
      );
    }
    await completing;
    if (failure) throw failure;
  };
  const running = loop().catch((error: unknown) => {
    const reason = error instanceof Error ? error : new Error(describe(error));
    completed.fail(reason);
    throw reason;
  });
  running.catch(() => {}); // reported through `completed` and `stop()`
  return {
    completed,
    async stop() {
      stopping = true;
      wake?.();
      await running;
    },
  };
}

/** `count` jobs with data `{ n }` numbered from `from`, for `insert`. */
function jobs(queue: string, from: number, count: number): PgBoss.JobInsert<BenchData>[] {
  return Array.from({ length: count }, (_, i) => ({ name: queue, data: { n: from + i } }));
}

/** Checks that the job table holds `tasks` jobs of `queue` in state completed, none failed. */
async function checkCompleted(ctx: Context, queue: string, tasks: number): Promise<void> {
  const { rows } = await ctx.sql.query<{ completed: number; failed: number }>(
    `SELECT count(*) FILTER (WHERE state = 'completed')::int AS completed, count(*) FILTER (WHERE state = 'failed')::int AS failed
       FROM ${SCHEMA}.job WHERE name = $1`,
    [queue],
  );
  const { completed = 0, failed = 0 } = rows[0] ?? {};
  if (completed !== tasks || failed > 0) throw new Error(`the job table holds ${completed} completed and ${failed} failed jobs of ${tasks}`);
}

/** Jobs added per second, one `send` per call, by `loops` concurrent callers. */
async function createRate(ctx: Context, loops: 1 | 32, cpu: CpuWindow): Promise<number> {
  return withQueue(ctx, `create-${loops}`, async (queue) => {
    let n = 0;
    return throughput(
      ctx.plan,
      loops,
      async () => {
        await ctx.boss.send(queue, { n: n++ });
        return 1;
      },
      cpu,
    );
  });
}

/** Jobs added per second, 100 per `insert`, by 4 concurrent callers. */
async function batchRate(ctx: Context, cpu: CpuWindow): Promise<number> {
  return withQueue(ctx, 'batch-100', async (queue) => {
    let n = 0;
    return throughput(
      ctx.plan,
      4,
      async () => {
        await ctx.boss.insert(jobs(queue, n, 100));
        n += 100;
        return 100;
      },
      cpu,
    );
  });
}

/**
 * Jobs per second through send → fetch → complete: a consumer of `batchSize` `concurrency` runs
 * while the producer inserts `tasks` jobs 100 at a time; the end is when the last
 * `complete()` has returned (checked against the job table). The consumer is idle when the
 * producer starts, half a polling interval after its last empty fetch: the average wait of a job
 * that arrives at a random moment of the poll cycle.
 */
async function lifecycleRate(ctx: Context, concurrency: number, tasks: number, cpu: CpuWindow): Promise<number> {
  return withQueue(ctx, `lifecycle-${concurrency}`, async (queue) => {
    const consumer = startConsumer(ctx, queue, concurrency, () => {});
    try {
      await sleep(POLLING_INTERVAL_MS / 2);
      cpu.start();
      const started = performance.now();
      for (let made = 0; made < tasks; made += LIFECYCLE_BATCH) {
        await ctx.boss.insert(jobs(queue, made, Math.min(LIFECYCLE_BATCH, tasks - made)));
      }
      await within(consumer.completed.reached(tasks), LIFECYCLE_TIMEOUT_MS, `the lifecycle at concurrency ${concurrency}`);
      const seconds = (performance.now() - started) / 1000;
      cpu.end(tasks);
      await checkCompleted(ctx, queue, tasks);
      return tasks / seconds;
    } finally {
      await consumer.stop();
    }
  });
}

/**
 * Jobs per second draining the plan's lifecycle jobs, all inserted (1,000 per `insert`) before
 * a consumer of `batchSize` `DRAIN_CONCURRENCY` starts; from starting it to its last `complete()`.
 */
async function drainRate(ctx: Context, cpu: CpuWindow): Promise<number> {
  const tasks = ctx.plan.lifecycleTasks;
  return withQueue(ctx, 'drain', async (queue) => {
    for (let made = 0; made < tasks; made += STORAGE_BATCH) {
      await ctx.boss.insert(jobs(queue, made, Math.min(STORAGE_BATCH, tasks - made)));
    }
    cpu.start();
    const started = performance.now();
    const consumer = startConsumer(ctx, queue, DRAIN_CONCURRENCY, () => {});
    try {
      await within(consumer.completed.reached(tasks), LIFECYCLE_TIMEOUT_MS, 'the drain');
      const seconds = (performance.now() - started) / 1000;
      cpu.end(tasks);
      await checkCompleted(ctx, queue, tasks);
      return tasks / seconds;
    } finally {
      await consumer.stop();
    }
  });
}

/**
 * Send → handler start, ms, over the plan's trials: in each of `LATENCY_LANES` lanes, one job at
 * a time on an idle queue of its own with a consumer of `batchSize` 1, each trial waiting for the
 * previous job's `complete()`. Each trial first pauses for a random part of the polling interval,
 * so that jobs arrive at random points of the consumer's poll cycle rather than always just after
 * a poll, as they would in use. `notifyWorker()` (same process only) is not used.
 */
async function latencySamples(ctx: Context): Promise<number[]> {
  const trials = ctx.plan.latencyTasks;
  const samples: number[] = [];
  const lane = async (queue: string, first: number) => {
    let entered: ((at: number) => void) | undefined;
    const consumer = startConsumer(ctx, queue, 1, () => entered?.(performance.now()));
    try {
      let done = 0;
      for (let trial = first; trial < trials; trial += LATENCY_LANES) {
        await sleep(Math.random() * POLLING_INTERVAL_MS);
        const handlerStarted = new Promise<number>((resolve) => (entered = resolve));
        const sent = performance.now();
        await ctx.boss.send(queue, { n: trial });
        samples.push((await within(handlerStarted, TRIAL_TIMEOUT_MS, `latency trial ${trial}`)) - sent);
        await within(consumer.completed.reached(++done), TRIAL_TIMEOUT_MS, `latency trial ${trial}`);
      }
    } finally {
      await consumer.stop();
    }
  };
  const lanes = Array.from({ length: Math.min(LATENCY_LANES, trials) }, (_, index) => `latency-${index}`);
  return withQueues(ctx, lanes, async (queues) => {
    // Every lane runs to its end before the queues are deleted, even where one fails.
    const settled = await Promise.allSettled(queues.map((queue, index) => lane(queue, index)));
    const failure = settled.find((outcome) => outcome.status === 'rejected');
    if (failure) throw failure.reason;
    return samples;
  });
}

/** Bytes of `queue`'s partition of the job table, with its indexes and TOAST. */
async function partitionBytes(ctx: Context, queue: string): Promise<number> {
  const { rows } = await ctx.sql.query<{ bytes: string }>(
    `SELECT pg_total_relation_size(format('%I.%I', $1::text, partition_name)::regclass) AS bytes FROM ${SCHEMA}.queue WHERE name = $2`,
    [SCHEMA, queue],
  );
  if (!rows[0]) throw new Error(`queue ${queue} has no partition`);
  return Number(rows[0].bytes);
}

/** Growth of the queue's job table per pending job, inserting the plan's storage jobs into an empty queue. */
async function bytesPerJob(ctx: Context): Promise<number> {
  const tasks = ctx.plan.storageTasks;
  return withQueue(ctx, 'storage', async (queue) => {
    const before = await partitionBytes(ctx, queue);
    for (let made = 0; made < tasks; made += STORAGE_BATCH) {
      await ctx.boss.insert(jobs(queue, made, Math.min(STORAGE_BATCH, tasks - made)));
    }
    return ((await partitionBytes(ctx, queue)) - before) / tasks;
  });
}

/** The scenarios, as `runScenarios` runs them. */
const SCENARIOS: Scenarios<Context> = { batchCall: 'insert', concurrencyName: 'batchSize', create: createRate, batch: batchRate, lifecycle: lifecycleRate, drain: drainRate, latency: latencySamples, storage: bytesPerJob };

/** How this anchor is set up, for the report. */
const NOTES = [
  `worker: a loop of fetch({ batchSize: n }) and complete(ids) per concurrency n, fetching again at once while it finds jobs and waiting ${POLLING_INTERVAL_MS / 1000} s (the minimum pollingIntervalSeconds) after an empty fetch; the handler does the whole batch at once; the next fetch does not wait for the previous batch's complete() (as work() does not)`,
  `latency: ${LATENCY_LANES} lanes at once, each an idle queue with its own consumer of batchSize 1; each trial starts after a random pause within the polling interval, so jobs arrive at random points of the poll cycle; notifyWorker() (same process only) is not used`,
  'lifecycle: the producer starts half a polling interval after the idle consumer last fetched nothing',
  `maintenance and cron off (supervise: false, schedule: false); pool of ${POOL_SIZE} connections (default 10) so that 32 sends can be in flight; bytes per task: pg_total_relation_size of the queue's job partition (indexes and TOAST included)`,
];

/** Starts the library on `anchor`'s database: the scenarios' context, and how to stop it. */
async function open(anchor: PostgresAnchor, plan: BenchPlan, log: Log): Promise<{ ctx: Context; close(): Promise<void> }> {
  const boss = new PgBoss({ connectionString: anchor.connectionString, schema: SCHEMA, supervise: false, schedule: false, max: POOL_SIZE });
  boss.on('error', (error) => log(`pg-boss: error: ${describe(error)}`));
  await boss.start();
  return { ctx: { ...anchor, plan, log, boss }, close: () => boss.stop({ graceful: false, wait: true }) };
}

/** pg-boss's figures against the PostgreSQL at `postgresUrl`, or `skipped` if it cannot be reached. */
export async function benchPgBoss(plan: BenchPlan, postgresUrl: string, log: Log): Promise<SystemResult> {
  const library = `pg-boss ${packageVersion('pg-boss')}`;
  return benchOnPostgres({ name: 'pg-boss', system: 'pg-boss', library, plan, log, postgresUrl, schema: SCHEMA, scenarios: SCENARIOS, notes: [...NOTES], open: (anchor) => open(anchor, plan, log) });
}
