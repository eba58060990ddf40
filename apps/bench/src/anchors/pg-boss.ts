/**
 * pg-boss on PostgreSQL as an anchor: PrismQ's scenarios with pg-boss used as a library in this
 * process (`send`/`insert` add jobs, `work` runs them), against the server at `postgresUrl`.
 *
 * pg-boss lives in its own schema, dropped before and after the run; every scenario runs on its
 * own queue (a partition of the job table), deleted afterwards. Maintenance and cron scheduling
 * are off (`supervise: false`, `schedule: false`) so that no archiving or expiry runs meanwhile.
 *
 * pg-boss 10's worker is a polling loop: each `work()` fetches up to `batchSize` jobs, hands
 * them to the handler as one batch, and then waits out the rest of `pollingIntervalSeconds`
 * (at least 0.5 s) before it fetches again, whether or not it found jobs. "n jobs at once" is
 * therefore one `work()` with `batchSize: n` at the minimum interval, the handler doing the
 * whole batch concurrently; it peaks near n / 0.5 s jobs per second, which sizes the lifecycle
 * and latency runs below.
 */
import { randomUUID } from 'node:crypto';
import { userInfo } from 'node:os';
import pg from 'pg';
import PgBoss from 'pg-boss';
import { LIFECYCLE_CONCURRENCIES, percentile, throughput, type BenchPlan, type Figures, type Log, type SystemResult } from '../figures.js';
import { attempter, CONNECT_TIMEOUT_MS, createScenarios, describe, hostPort, LIFECYCLE_BATCH, LIFECYCLE_TIMEOUT_MS, packageVersion, redact, sleep, STORAGE_BATCH, TRIAL_TIMEOUT_MS, within } from './common.js';

const SCHEMA = 'prismq_bench_pgboss';
/** pg-boss's minimum polling interval, the most favourable setting for the worker. */
const POLLING_INTERVAL_SECONDS = 0.5;
/** Rough wall time a lifecycle run and the latency trials may take, full and quick. */
const LIFECYCLE_SECONDS = { full: 8, quick: 1.5 };
const LATENCY_SECONDS = { full: 30, quick: 2.5 };
const MIN_LATENCY_TRIALS = { full: 30, quick: 5 };
/** A latency trial: a random pause within the poll interval, then on average half an interval of waiting. */
const SECONDS_PER_TRIAL = POLLING_INTERVAL_SECONDS * 1.1;
/** How often completion is looked for in the job table. */
const POLL_MS = 10;
/** Connections in pg-boss's pool (its default is 10): enough for the 32 callers of create_32. */
const POOL_SIZE = 32;

interface BenchData {
  n: number;
}

/** What the scenarios share. */
interface Context {
  plan: BenchPlan;
  log: Log;
  boss: PgBoss;
  /** Connection for looking at pg-boss's tables, outside pg-boss. */
  sql: pg.Client;
  /** Prefix of this run's queue names. */
  run: string;
}

/**
 * `postgresUrl`, naming a user where it names none and the environment does not either: libpq
 * (psql) then connects as the operating-system user, node-postgres only looks at $USER.
 */
function withDefaultUser(postgresUrl: string): string {
  if (process.env.PGUSER || process.env.USER) return postgresUrl;
  try {
    const parsed = new URL(postgresUrl);
    if (parsed.username || !parsed.hostname) return postgresUrl;
    parsed.username = userInfo().username;
    return parsed.toString();
  } catch {
    return postgresUrl;
  }
}

/** The full-run or the quick-run one of `values`. */
const forMode = <T>(plan: BenchPlan, values: { full: T; quick: T }): T => (plan.quick ? values.quick : values.full);

/** Resolves once `probe` is true, looking every `POLL_MS`; fails naming `what` after `ms`. */
async function until(probe: () => Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = performance.now() + ms;
  while (!(await probe())) {
    if (performance.now() > deadline) throw new Error(`${what} did not finish within ${ms / 1000} s`);
    await sleep(POLL_MS);
  }
}

/** Connects once, failing fast: the connection for looking at tables, or why the server is unreachable. */
async function connectSql(postgresUrl: string): Promise<pg.Client> {
  const sql = new pg.Client({ connectionString: postgresUrl, connectionTimeoutMillis: CONNECT_TIMEOUT_MS });
  sql.on('error', () => {});
  try {
    await sql.connect();
    return sql;
  } catch (error) {
    await sql.end().catch(() => {});
    throw error;
  }
}

const dropSchema = (sql: pg.Client) => sql.query(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`);

/** Runs `use` on a new queue of this run, then deletes it and its partition. */
async function withQueue<T>(ctx: Context, scenario: string, use: (name: string) => Promise<T>): Promise<T> {
  const name = `${ctx.run}-${scenario}`;
  await ctx.boss.createQueue(name);
  try {
    return await use(name);
  } finally {
    // pg-boss 10's deleteQueue refuses a queue that still has jobs (its foreign key restricts).
    await ctx.sql.query(`DELETE FROM ${SCHEMA}.job WHERE name = $1`, [name]);
    await ctx.boss.deleteQueue(name);
  }
}

/** Runs `use` while a worker of `batchSize` at the minimum polling interval works `queue`, then stops it. */
async function withWorker<T>(ctx: Context, queue: string, batchSize: number, handler: () => Promise<object>, use: () => Promise<T>): Promise<T> {
  const id = await ctx.boss.work<BenchData>(queue, { batchSize, pollingIntervalSeconds: POLLING_INTERVAL_SECONDS }, handler);
  try {
    return await use();
  } finally {
    await ctx.boss.offWork({ id });
  }
}

/** `count` jobs with data `{ n }` numbered from `from`, for `insert`. */
function jobs(queue: string, from: number, count: number): PgBoss.JobInsert<BenchData>[] {
  return Array.from({ length: count }, (_, i) => ({ name: queue, data: { n: from + i } }));
}

/** How many of `queue`'s jobs pg-boss has recorded completed, and failed. */
async function finished(ctx: Context, queue: string): Promise<{ completed: number; failed: number }> {
  const { rows } = await ctx.sql.query<{ completed: number; failed: number }>(
    `SELECT count(*) FILTER (WHERE state = 'completed')::int AS completed, count(*) FILTER (WHERE state = 'failed')::int AS failed
       FROM ${SCHEMA}.job WHERE name = $1`,
    [queue],
  );
  return rows[0] ?? { completed: 0, failed: 0 };
}

/** Jobs added per second, one `send` per call, by `loops` concurrent callers. */
async function createRate(ctx: Context, loops: number): Promise<number> {
  return withQueue(ctx, `create-${loops}`, async (queue) => {
    let n = 0;
    return throughput(ctx.plan, loops, async () => {
      await ctx.boss.send(queue, { n: n++ });
      return 1;
    });
  });
}

/** Jobs added per second, 100 per `insert`, by 4 concurrent callers. */
async function batchRate(ctx: Context): Promise<number> {
  return withQueue(ctx, 'batch-100', async (queue) => {
    let n = 0;
    return throughput(ctx.plan, 4, async () => {
      await ctx.boss.insert(jobs(queue, n, 100));
      n += 100;
      return 100;
    });
  });
}

/**
 * Lifecycle jobs at `concurrency`: the plan's number, or fewer where the worker's pace of
 * `concurrency` jobs per polling interval would make the run much longer than `LIFECYCLE_SECONDS`.
 */
function lifecycleTasks(plan: BenchPlan, concurrency: number): number {
  const pace = concurrency / POLLING_INTERVAL_SECONDS;
  return Math.min(plan.lifecycleTasks, Math.max(concurrency, Math.round(pace * forMode(plan, LIFECYCLE_SECONDS))));
}

/**
 * Jobs per second through send → fetch → complete: a worker fetching `concurrency` jobs at a
 * time runs while the producer inserts `tasks` jobs 100 at a time; the end is when the job table
 * holds all of them in state completed. The handler is done with its whole batch at once and
 * returns `{ ok: true }` (pg-boss keeps a handler's output only for a batch of one).
 */
async function lifecycleRate(ctx: Context, concurrency: number, tasks: number): Promise<number> {
  return withQueue(ctx, `lifecycle-${concurrency}`, (queue) =>
    withWorker(ctx, queue, concurrency, async () => ({ ok: true }), async () => {
      const started = performance.now();
      for (let made = 0; made < tasks; made += LIFECYCLE_BATCH) {
        await ctx.boss.insert(jobs(queue, made, Math.min(LIFECYCLE_BATCH, tasks - made)));
      }
      await until(
        async () => {
          const { completed, failed } = await finished(ctx, queue);
          if (failed > 0) throw new Error(`${failed} jobs failed`);
          return completed >= tasks;
        },
        LIFECYCLE_TIMEOUT_MS,
        `the lifecycle at concurrency ${concurrency}`,
      );
      return tasks / ((performance.now() - started) / 1000);
    }),
  );
}

/** Latency trials to run: the plan's number, or as many as fit in `LATENCY_SECONDS` at the polling pace. */
function latencyTrials(plan: BenchPlan): number {
  const fitting = Math.floor(forMode(plan, LATENCY_SECONDS) / SECONDS_PER_TRIAL);
  return Math.min(plan.latencyTasks, Math.max(forMode(plan, MIN_LATENCY_TRIALS), fitting));
}

/**
 * Send → handler start, ms, one job at a time on an idle queue with a worker fetching one job at
 * a time, each trial waiting for the previous job to be recorded completed. Each trial first
 * pauses for a random part of the polling interval, so that jobs arrive at random points of the
 * worker's poll cycle rather than always just after a poll, as they would in use.
 */
async function latencySamples(ctx: Context, trials: number): Promise<number[]> {
  let entered: ((at: number) => void) | undefined;
  const handler = async () => {
    entered?.(performance.now());
    return { ok: true };
  };
  return withQueue(ctx, 'latency', (queue) =>
    withWorker(ctx, queue, 1, handler, async () => {
      const samples: number[] = [];
      for (let trial = 0; trial < trials; trial++) {
        await sleep(Math.random() * POLLING_INTERVAL_SECONDS * 1000);
        const handlerStarted = new Promise<number>((resolve) => (entered = resolve));
        const sent = performance.now();
        await ctx.boss.send(queue, { n: trial });
        samples.push((await within(handlerStarted, TRIAL_TIMEOUT_MS, `latency trial ${trial}`)) - sent);
        await until(async () => (await finished(ctx, queue)).completed > trial, TRIAL_TIMEOUT_MS, `latency trial ${trial}`);
      }
      return samples;
    }),
  );
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

/** Runs every scenario, each on its own; one that fails leaves its figures out and a note. */
async function scenarios(ctx: Context, figures: Partial<Figures>, notes: string[]): Promise<void> {
  const attempt = attempter('pg-boss', ctx.log, notes);
  await createScenarios(attempt, figures, (loops) => createRate(ctx, loops), 'insert', () => batchRate(ctx));
  for (const concurrency of LIFECYCLE_CONCURRENCIES) {
    const tasks = lifecycleTasks(ctx.plan, concurrency);
    if (tasks < ctx.plan.lifecycleTasks) notes.push(`lifecycle_${concurrency}: ${tasks} jobs instead of ${ctx.plan.lifecycleTasks}, about ${forMode(ctx.plan, LIFECYCLE_SECONDS)} s at the worker's pace`);
    await attempt(`lifecycle of ${tasks} jobs, batchSize ${concurrency}`, async () => {
      figures[`lifecycle_${concurrency}`] = await lifecycleRate(ctx, concurrency, tasks);
    });
  }
  const trials = latencyTrials(ctx.plan);
  if (trials < ctx.plan.latencyTasks) notes.push(`latency: ${trials} trials instead of ${ctx.plan.latencyTasks}, as each waits for a poll`);
  await attempt(`latency over ${trials} jobs`, async () => {
    const samples = await latencySamples(ctx, trials);
    figures.latency_p50_ms = percentile(samples, 50);
    figures.latency_p99_ms = percentile(samples, 99);
  });
  await attempt(`storage of ${ctx.plan.storageTasks} jobs`, async () => {
    figures.bytes_per_task = await bytesPerJob(ctx);
  });
}

/** Starts pg-boss in the bench schema, runs the scenarios, and stops it. */
async function withBoss(connectionString: string, use: (boss: PgBoss) => Promise<void>, log: Log): Promise<void> {
  const boss = new PgBoss({ connectionString, schema: SCHEMA, supervise: false, schedule: false, max: POOL_SIZE });
  boss.on('error', (error) => log(`pg-boss: error: ${describe(error)}`));
  try {
    await boss.start();
    await use(boss);
  } finally {
    await boss.stop();
  }
}

/** pg-boss's figures against the PostgreSQL at `postgresUrl`, or `skipped` if it cannot be reached. */
export async function benchPgBoss(plan: BenchPlan, postgresUrl: string, log: Log): Promise<SystemResult> {
  const library = `pg-boss ${packageVersion('pg-boss')}`;
  const result: SystemResult = { name: 'pg-boss', detail: library, figures: {} };
  const connectionString = withDefaultUser(postgresUrl);
  let sql: pg.Client;
  try {
    sql = await connectSql(connectionString);
  } catch (error) {
    return { ...result, skipped: `PostgreSQL is not reachable at ${redact(postgresUrl)} (set POSTGRES_URL): ${describe(error)}` };
  }
  const notes = [
    `worker: one work() per concurrency n with batchSize n and pollingIntervalSeconds ${POLLING_INTERVAL_SECONDS} (the minimum); the handler does the whole batch at once; pg-boss waits out the interval after every fetch, so a worker peaks near n / ${POLLING_INTERVAL_SECONDS} s jobs per second`,
    'latency: each trial starts after a random pause within the polling interval, so jobs arrive at random points of the poll cycle; notifyWorker() (same process only) is not used',
    `maintenance and cron off (supervise: false, schedule: false); pool of ${POOL_SIZE} connections (default 10) so that 32 sends can be in flight; bytes per task: pg_total_relation_size of the queue's job partition (indexes and TOAST included)`,
  ];
  try {
    // e.g. "15.20 (Debian 15.20-0+deb12u1)": the number is enough.
    const version = (await sql.query<{ server_version: string }>('SHOW server_version')).rows[0]?.server_version.split(' ')[0] ?? 'unknown';
    result.detail = `${library}, PostgreSQL ${version} at ${hostPort(postgresUrl, 5432, 'localhost')}`;
    await dropSchema(sql);
    const run = `prismq-bench-${randomUUID().slice(0, 8)}`;
    await withBoss(connectionString, (boss) => scenarios({ plan, log, boss, sql, run }, result.figures, notes), log);
  } catch (error) {
    notes.push(`stopped early: ${describe(error)}`);
  } finally {
    await dropSchema(sql).catch((error: unknown) => notes.push(`could not drop schema ${SCHEMA}: ${describe(error)}`));
    await sql.end().catch(() => {});
  }
  return { ...result, notes };
}
