/**
 * Graphile Worker on PostgreSQL as an anchor: PrismQ's scenarios with Graphile Worker used as a
 * library in this process (`WorkerUtils.addJob`/`addJobs` add jobs, a runner from `run()` works
 * them), against the server at `postgresUrl`, in a schema of its own dropped before and after.
 *
 * The runner is tuned as Graphile Worker's performance page (https://worker.graphile.org/docs/performance)
 * tunes its own benchmark: `localQueue: { size: 500 }` (the pool fetches and locks up to 500 jobs
 * at once and hands them to its workers locally), `completeJobBatchDelay: 0` and
 * `failJobBatchDelay: 0` (completions of one tick written in one statement), a pool of
 * concurrency + 1 connections, and no log line per successful job (`NO_LOG_SUCCESS`, as its
 * perfTest runs; a logger that keeps only warnings and errors). New jobs reach an idle runner by
 * LISTEN/NOTIFY, so no polling interval is involved. Each scenario uses its own task identifier.
 */
import type * as GraphileWorker from 'graphile-worker';
import type { AddJobsJobSpec, Runner, WorkerUtils } from 'graphile-worker';
import type { CpuWindow } from '../cpu.js';
import { DRAIN_CONCURRENCY, throughput, type BenchPlan, type Log, type SystemResult } from '../figures.js';
import { benchOnPostgres, type PostgresAnchor } from '../postgres.js';
import type { ScenarioContext, Scenarios } from '../scenarios.js';
import { describe, LIFECYCLE_BATCH, LIFECYCLE_TIMEOUT_MS, packageVersion, sleep, STORAGE_BATCH, Tally, TRIAL_TIMEOUT_MS, until, within, type BenchData } from './common.js';

const SCHEMA = 'prismq_bench_graphile';
/** Connections of the `WorkerUtils` that add jobs: enough for the 32 callers of create_32. */
const UTILS_POOL_SIZE = 32;
/** Graphile Worker's documented performance settings, beside concurrency and pool size. */
const TUNING = { localQueue: { size: 500 }, completeJobBatchDelay: 0, failJobBatchDelay: 0 } as const;
/** How often the job table is looked at for jobs left, once every handler has run. */
const POLL_MS = 2;
/** Pause after a latency trial's job is gone from the table, so that the runner is idle again (as for PrismQ). */
const SETTLE_MS = 5;


/** What the scenarios share. */
interface Context extends PostgresAnchor, ScenarioContext {
  worker: typeof GraphileWorker;
  utils: WorkerUtils;
  logger: GraphileWorker.Logger;
}

/**
 * Runs `use` with a task identifier of this run for `scenario`, then deletes the jobs of that
 * task left in the job table (the create scenarios' jobs are never run): pending jobs of other
 * tasks would otherwise lie in the way of every later fetch, as no queue of pg-boss or BullMQ
 * outlives its scenario either.
 */
async function withTask<T>(ctx: Context, scenario: string, use: (task: string) => Promise<T>): Promise<T> {
  const task = `${ctx.run}-${scenario}`;
  try {
    return await use(task);
  } finally {
    await ctx.sql.query(`DELETE FROM ${SCHEMA}._private_jobs WHERE task_id IN (SELECT id FROM ${SCHEMA}._private_tasks WHERE identifier = $1)`, [task]);
  }
}

/** `count` job specs of `task` with payload `{ n }` numbered from `from`, for `addJobs`. */
function jobs(task: string, from: number, count: number): AddJobsJobSpec[] {
  return Array.from({ length: count }, (_, i) => ({ identifier: task, payload: { n: from + i } satisfies BenchData }));
}

/** Adds `count` jobs of `task`, `batch` per `addJobs`. */
async function addPending(ctx: Context, task: string, count: number, batch: number): Promise<void> {
  for (let made = 0; made < count; made += batch) await ctx.utils.addJobs(jobs(task, made, Math.min(batch, count - made)));
}

/** Jobs of `task` still in the job table (completing a job deletes it), and how many of them failed. */
async function jobsLeft(ctx: Context, task: string): Promise<{ left: number; failed: number }> {
  const { rows } = await ctx.sql.query<{ left: number; failed: number }>(
    `SELECT count(*)::int AS left, count(*) FILTER (WHERE j.last_error IS NOT NULL)::int AS failed
       FROM ${SCHEMA}._private_jobs j JOIN ${SCHEMA}._private_tasks t ON t.id = j.task_id WHERE t.identifier = $1`,
    [task],
  );
  return rows[0] ?? { left: 0, failed: 0 };
}

/** Resolves once no job of `task` is left in the job table: every completion written. */
async function recorded(ctx: Context, task: string, ms: number): Promise<void> {
  await until(
    async () => {
      const { left, failed } = await jobsLeft(ctx, task);
      if (failed > 0) throw new Error(`${failed} jobs failed`);
      return left === 0;
    },
    ms,
    `recording the completions of ${task}`,
    POLL_MS,
  );
}

/**
 * Runs `use` while a runner of `concurrency` works `task` with `handler`, tuned as documented,
 * then stops it. `use` gets the count of jobs whose handler has returned and whose completion
 * has been handed to the (batched) writer; an error in a handler fails the count.
 */
async function withRunner<T>(ctx: Context, task: string, concurrency: number, handler: () => void, use: (handled: Tally) => Promise<T>): Promise<T> {
  const handled = new Tally();
  const runner: Runner = await ctx.worker.run(
    {
      connectionString: ctx.connectionString,
      schema: SCHEMA,
      concurrency,
      maxPoolSize: concurrency + 1,
      noHandleSignals: true,
      logger: ctx.logger,
      preset: { worker: { ...TUNING } },
    },
    { [task]: async () => handler() },
    [],
  );
  runner.events.on('job:complete', ({ error }) => (error ? handled.fail(new Error(describe(error))) : handled.add()));
  try {
    return await use(handled);
  } finally {
    await runner.stop();
  }
}

/** Jobs added per second, one `addJob` per call, by `loops` concurrent callers. */
async function createRate(ctx: Context, loops: 1 | 32, cpu: CpuWindow): Promise<number> {
  return withTask(ctx, `create-${loops}`, async (task) => {
    let n = 0;
    return throughput(
      ctx.plan,
      loops,
      async () => {
        await ctx.utils.addJob(task, { n: n++ } satisfies BenchData);
        return 1;
      },
      cpu,
    );
  });
}

/** Jobs added per second, 100 per `addJobs`, by 4 concurrent callers. */
async function batchRate(ctx: Context, cpu: CpuWindow): Promise<number> {
  return withTask(ctx, 'batch-100', async (task) => {
    let n = 0;
    return throughput(
      ctx.plan,
      4,
      async () => {
        const added = await ctx.utils.addJobs(jobs(task, n, 100));
        n += added.length;
        return added.length;
      },
      cpu,
    );
  });
}

/**
 * Jobs per second through add → run → complete: a runner of `concurrency` works while the
 * producer adds `tasks` jobs 100 per `addJobs`; the end is when the job table holds none of them
 * (completing deletes a job).
 */
async function lifecycleRate(ctx: Context, concurrency: number, tasks: number, cpu: CpuWindow): Promise<number> {
  return withTask(ctx, `lifecycle-${concurrency}`, (task) =>
    withRunner(ctx, task, concurrency, () => {}, async (handled) => {
      cpu.start();
      const started = performance.now();
      await addPending(ctx, task, tasks, LIFECYCLE_BATCH);
      await within(handled.reached(tasks), LIFECYCLE_TIMEOUT_MS, `the lifecycle at concurrency ${concurrency}`);
      await recorded(ctx, task, LIFECYCLE_TIMEOUT_MS);
      cpu.end(tasks);
      return tasks / ((performance.now() - started) / 1000);
    }),
  );
}

/**
 * Jobs per second draining the plan's lifecycle jobs, all added (1,000 per `addJobs`) before a
 * runner of `DRAIN_CONCURRENCY` starts; from calling `run()` (its start-up included) until the
 * job table holds none of them.
 */
async function drainRate(ctx: Context, cpu: CpuWindow): Promise<number> {
  const tasks = ctx.plan.lifecycleTasks;
  return withTask(ctx, 'drain', async (task) => {
    await addPending(ctx, task, tasks, STORAGE_BATCH);
    cpu.start();
    const started = performance.now();
    return withRunner(ctx, task, DRAIN_CONCURRENCY, () => {}, async (handled) => {
      await within(handled.reached(tasks), LIFECYCLE_TIMEOUT_MS, 'the drain');
      await recorded(ctx, task, LIFECYCLE_TIMEOUT_MS);
      cpu.end(tasks);
      return tasks / ((performance.now() - started) / 1000);
    });
  });
}

/**
 * `addJob` → handler start, ms, one job at a time on an idle runner of concurrency 1, each trial
 * waiting until the previous job is gone from the job table.
 */
async function latencySamples(ctx: Context): Promise<number[]> {
  let entered: ((at: number) => void) | undefined;
  return withTask(ctx, 'latency', (task) =>
    withRunner(ctx, task, 1, () => entered?.(performance.now()), async (handled) => {
      const samples: number[] = [];
      for (let trial = 0; trial < ctx.plan.latencyTasks; trial++) {
        const handlerStarted = new Promise<number>((resolve) => (entered = resolve));
        const sent = performance.now();
        await ctx.utils.addJob(task, { n: trial } satisfies BenchData);
        samples.push((await within(handlerStarted, TRIAL_TIMEOUT_MS, `latency trial ${trial}`)) - sent);
        await within(handled.reached(trial + 1), TRIAL_TIMEOUT_MS, `latency trial ${trial}`);
        await recorded(ctx, task, TRIAL_TIMEOUT_MS);
        await sleep(SETTLE_MS);
      }
      return samples;
    }),
  );
}

/** Bytes of the job table with its indexes and TOAST. */
async function jobTableBytes(ctx: Context): Promise<number> {
  const { rows } = await ctx.sql.query<{ bytes: string }>(`SELECT pg_total_relation_size('${SCHEMA}._private_jobs') AS bytes`);
  return Number(rows[0]?.bytes);
}

/**
 * Growth of the job table per pending job, adding the plan's storage jobs; the table is first
 * compacted (`VACUUM FULL`), so that the space of the jobs the other scenarios deleted is not reused.
 */
async function bytesPerJob(ctx: Context): Promise<number> {
  const tasks = ctx.plan.storageTasks;
  await ctx.sql.query(`VACUUM FULL ${SCHEMA}._private_jobs`);
  const before = await jobTableBytes(ctx);
  return withTask(ctx, 'storage', async (task) => {
    await addPending(ctx, task, tasks, STORAGE_BATCH);
    return ((await jobTableBytes(ctx)) - before) / tasks;
  });
}

/** The scenarios, as `runScenarios` runs them. */
const SCENARIOS: Scenarios<Context> = { batchCall: 'addJobs', create: createRate, batch: batchRate, lifecycle: lifecycleRate, drain: drainRate, latency: latencySamples, storage: bytesPerJob };

/** How this anchor is set up, for the report. */
const NOTES = [
  `runner per scenario: concurrency n, maxPoolSize n + 1, localQueue.size ${TUNING.localQueue.size}, completeJobBatchDelay ${TUNING.completeJobBatchDelay}, failJobBatchDelay ${TUNING.failJobBatchDelay} (its performance page's settings); NO_LOG_SUCCESS set, warnings and errors logged only`,
  `jobs added through WorkerUtils (addJob, addJobs; pool of ${UTILS_POOL_SIZE}); a job counts as done once the job table no longer holds it (completion deletes it)`,
  `bytes per task: growth of pg_total_relation_size of ${SCHEMA}._private_jobs after VACUUM FULL (indexes and TOAST included)`,
];

/** Starts the library on `anchor`'s database: the scenarios' context, and how to stop it. */
async function open(anchor: PostgresAnchor, plan: BenchPlan, log: Log): Promise<{ ctx: Context; close(): Promise<void> }> {
  // Read once, when the library is loaded: its own benchmark runs with it set.
  process.env.NO_LOG_SUCCESS ??= '1';
  const worker = await import('graphile-worker');
  const logger = new worker.Logger(() => (level, message) => {
    if (level === 'error' || level === 'warning') log(`graphile-worker: ${level}: ${message}`);
  });
  const utils = await worker.makeWorkerUtils({ connectionString: anchor.connectionString, schema: SCHEMA, maxPoolSize: UTILS_POOL_SIZE, logger });
  try {
    await utils.migrate();
  } catch (error) {
    await utils.release();
    throw error;
  }
  return { ctx: { ...anchor, plan, log, worker, utils, logger }, close: async () => void (await utils.release()) };
}

/** Graphile Worker's figures against the PostgreSQL at `postgresUrl`, or `skipped` if it cannot be reached. */
export async function benchGraphileWorker(plan: BenchPlan, postgresUrl: string, log: Log): Promise<SystemResult> {
  const library = `graphile-worker ${packageVersion('graphile-worker')}`;
  return benchOnPostgres({ name: 'Graphile Worker', system: 'graphile-worker', library, plan, log, postgresUrl, schema: SCHEMA, scenarios: SCENARIOS, notes: [...NOTES], open: (anchor) => open(anchor, plan, log) });
}
