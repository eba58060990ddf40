/**
 * PrismQ measured as users meet it: the real server (as `pnpm start` runs it) in its own process,
 * one per storage engine (a SQLite file, and a fresh PostgreSQL database where `@prismq/db` has
 * that engine), driven from this process through the scenarios every system runs, in the same
 * order (../scenarios.ts):
 *
 * - creates one per request: the REST path raw, by autocannon with a pre-serialised body
 *   (`create_1`, `create_32`: the HTTP path alone, no client library), the tRPC path the same
 *   way, and through `@prismq/client` (`tasks.create.mutate`, `batch: false`; `create_client_*`)
 *   as an application creates, which is what the anchors' rows (their client libraries) compare
 *   with; then creates beside 200 idle long polls; batches of 100 by autocannon;
 * - lifecycle, drain and latency through the `@prismq/client` worker runtime;
 * - storage: tasks added through `@prismq/client`, the database's growth per task.
 *
 * The server side's CPU is the server process's (from /proc), and on PostgreSQL also that of the
 * PostgreSQL server's processes (see ../cpu.ts).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createPrismqClient, type PrismqClient } from '@prismq/client';
import { createWorker } from '@prismq/client/worker';
import * as db from '@prismq/db';
import autocannon from 'autocannon';
import Database from 'better-sqlite3';
import { describe, redact } from './anchors/common.js';
import type { CpuWindow, ServerCpu } from './cpu.js';
import { DRAIN_CONCURRENCY, IDLE_POLLS, throughput, type BenchPlan, type Figures, type Log, type SystemResult } from './figures.js';
import { connectSql, describeServer, freshDatabase, POSTGRES_CPU_NOTE, postgresServerCpu, unreachable, type FreshDatabase } from './postgres.js';
import { runScenarios, type Measure, type ScenarioContext, type Scenarios } from './scenarios.js';
import { startServer, type ServerProcess } from './server.js';

const JSON_HEADERS = { 'content-type': 'application/json' };
/** How PrismQ is driven, on either engine, for the report. */
const NOTES = [
  'create (REST), create over tRPC and batch create: raw HTTP by autocannon in this process, with a pre-serialised body (so their benchmark-process CPU is autocannon\'s); create through @prismq/client, lifecycle, drain, latency and storage: @prismq/client (batch: false) and its worker runtime',
  'the lifecycle and drain end once the server lists none of the tasks pending or running',
];
/** Tasks per `createBatch` call when filling the database for the drain and for storage (the API's maximum). */
const FILL_BATCH = 1000;

interface Load {
  connections: number;
  method?: 'GET' | 'POST';
  path: string;
  body?: string;
  /** Varies each request's path. */
  nextPath?: () => string;
  /** Units of work per request (tasks in a batch). */
  unitsPerRequest?: number;
}

/**
 * Requests (times units) per second that answered 2xx, and the mean and p99 latency in ms: a
 * warm-up run of the plan's warm-up seconds, then the measured run, around which `cpu` is started
 * and ended.
 */
export async function load(plan: BenchPlan, url: string, spec: Load, cpu?: CpuWindow): Promise<{ perSecond: number; mean: number; p99: number }> {
  const run = async (duration: number) => {
    const result = await autocannon({
      url: url + spec.path,
      connections: spec.connections,
      duration,
      method: spec.method ?? 'GET',
      headers: spec.body ? JSON_HEADERS : {},
      ...(spec.body ? { body: spec.body } : {}),
      ...(spec.nextPath ? { requests: [{ setupRequest: (request) => ({ ...request, path: spec.nextPath!() }) }] } : {}),
    });
    const failed = result.non2xx + result.errors + result.timeouts;
    if (failed > 0) throw new Error(`${spec.method ?? 'GET'} ${spec.path}: ${failed} of ${result.requests.total} requests failed`);
    return result;
  };
  if (plan.warmupSeconds > 0) await run(plan.warmupSeconds);
  cpu?.start();
  const result = await run(plan.durationSeconds);
  const units = result['2xx'] * (spec.unitsPerRequest ?? 1);
  cpu?.end(units);
  return { perSecond: units / result.duration, mean: result.latency.average, p99: result.latency.p99 };
}

/** How the worker runtime is set up for the lifecycle and the drain: its settings for many short tasks (see the README's Workers). */
const WORKER_SETUP = '@prismq/client worker (tasks.exchange), prefetch equal to its concurrency';

const tmp = () => mkdtempSync(join(tmpdir(), 'prismq-bench-'));

export async function withServer<T>(path: string, run: (server: ServerProcess) => Promise<T>, env: Record<string, string> = {}): Promise<T> {
  const server = await startServer(path, env);
  try {
    return await run(server);
  } finally {
    await server.stop();
  }
}

/** What PrismQ's scenarios share: the server, a client of it, its engine, and its figures. */
interface Context extends ScenarioContext {
  server: ServerProcess;
  /** `@prismq/client` with `batch: false`, as a producer that wants the lowest latency uses it. */
  client: PrismqClient;
  engine: Engine;
  figures: Partial<Figures>;
  /** The task type the create scenarios create, made by the first of them. */
  createType?: Promise<number>;
}

/** The id of the type every create scenario uses (with a parameters schema to validate). */
function createTypeId(ctx: Context): Promise<number> {
  ctx.createType ??= ctx.client.taskTypes.create
    .mutate({ name: 'bench_create', parameters_schema: { type: 'object', properties: { n: { type: 'integer' } }, required: ['n'] } })
    .then((type) => type.id);
  return ctx.createType;
}

/** The body of one create, pre-serialised for autocannon. */
const createBody = async (ctx: Context) => JSON.stringify({ task_type_id: await createTypeId(ctx), parameters: { n: 1 } });

/** Creates one per request over REST, raw (autocannon): the HTTP path alone. */
async function createRate(ctx: Context, connections: 1 | 32, cpu: CpuWindow): Promise<number> {
  return (await load(ctx.plan, ctx.server.url, { connections, method: 'POST', path: '/api/tasks', body: await createBody(ctx) }, cpu)).perSecond;
}

/** PrismQ's other ways to create one task: tRPC raw, `@prismq/client`, and beside idle long polls. */
async function moreCreates(ctx: Context, measure: Measure): Promise<void> {
  for (const connections of [1, 32] as const) {
    await measure(`create over tRPC (raw HTTP, autocannon), ${connections} connection(s)`, `create_trpc_${connections}`, async (cpu) => {
      return (await load(ctx.plan, ctx.server.url, { connections, method: 'POST', path: '/trpc/tasks.create', body: await createBody(ctx) }, cpu)).perSecond;
    });
  }
  for (const loops of [1, 32] as const) {
    await measure(`create through @prismq/client (batch: false), ${loops} caller(s)`, `create_client_${loops}`, async (cpu) => {
      const typeId = await createTypeId(ctx);
      let n = 0;
      return throughput(
        ctx.plan,
        loops,
        async () => {
          await ctx.client.tasks.create.mutate({ task_type_id: typeId, parameters: { n: n++ } });
          return 1;
        },
        cpu,
      );
    });
  }
  await measure(`create over REST, 1 connection, beside ${IDLE_POLLS} waiting claims of another type`, 'create_1_idle_polls', (cpu) => createsBesideIdlePolls(ctx, cpu));
}

/**
 * Creates over one connection while IDLE_POLLS claims of another type long-poll, as a fleet of
 * idle workers does. Each waiting claim must cost nothing per create.
 */
async function createsBesideIdlePolls(ctx: Context, cpu: CpuWindow): Promise<number> {
  const { server, client } = ctx;
  const busy = await client.taskTypes.create.mutate({ name: 'bench_busy' });
  const idle = await client.taskTypes.create.mutate({ name: 'bench_idle' });
  const polling = new AbortController();
  const polls = Array.from({ length: IDLE_POLLS }, async (_, i) => {
    // One claim after another, as a worker's loop does, until the measurement ends.
    while (!polling.signal.aborted) {
      await fetch(`${server.url}/api/tasks/claim`, {
        method: 'POST',
        headers: JSON_HEADERS,
        body: JSON.stringify({ worker_id: `idle-${i}`, task_type_ids: [idle.id], wait_seconds: 30 }),
        signal: polling.signal,
      }).then((res) => res.arrayBuffer(), (error: unknown) => {
        if (!polling.signal.aborted) throw error;
      });
    }
  });
  try {
    // Time for every claim to reach the server and start waiting.
    await new Promise((resolve) => setTimeout(resolve, 500));
    const task = JSON.stringify({ task_type_id: busy.id });
    return (await load(ctx.plan, server.url, { connections: 1, method: 'POST', path: '/api/tasks', body: task }, cpu)).perSecond;
  } finally {
    polling.abort();
    await Promise.all(polls);
  }
}

/** Batches of 100 tasks over REST, 4 connections, raw (autocannon). */
async function batchRate(ctx: Context, cpu: CpuWindow): Promise<number> {
  const typeId = await createTypeId(ctx);
  const batch = JSON.stringify({ tasks: Array.from({ length: 100 }, (_, n) => ({ task_type_id: typeId, parameters: { n } })) });
  return (await load(ctx.plan, ctx.server.url, { connections: 4, method: 'POST', path: '/api/tasks/batch', body: batch, unitsPerRequest: 100 }, cpu)).perSecond;
}

/** Resolves once `probe` is true, looking every `everyMs`. */
async function until(probe: () => Promise<boolean> | boolean, everyMs = 5): Promise<void> {
  while (!(await probe())) await new Promise((resolve) => setTimeout(resolve, everyMs));
}

/** Creates `count` tasks of `typeId`, `batch` per request. */
async function createTasks(client: PrismqClient, typeId: number, count: number, batch: number): Promise<void> {
  for (let made = 0; made < count; made += batch) {
    const size = Math.min(batch, count - made);
    await client.tasks.createBatch.mutate({ tasks: Array.from({ length: size }, (_, n) => ({ task_type_id: typeId, parameters: { n: made + n } })) });
  }
}

/**
 * Tasks per second through claim → complete of `tasks` tasks by a worker of `concurrency` on a
 * new type `name`: with `pending: 'during'` they are created 100 per request while the worker
 * runs (timed from the first create); with `'before'` they are all created (1,000 per request)
 * before the worker starts (timed from starting it). Done once the server has recorded every
 * task completed: none left pending or running.
 */
async function workerRate(ctx: Context, name: string, concurrency: number, tasks: number, pending: 'during' | 'before', cpu: CpuWindow): Promise<number> {
  const { server, client } = ctx;
  const type = await client.taskTypes.create.mutate({ name });
  if (pending === 'before') await createTasks(client, type.id, tasks, FILL_BATCH);
  let handled = 0;
  let started = 0;
  if (pending === 'before') {
    cpu.start();
    started = performance.now();
  }
  const worker = createWorker({
    url: server.url,
    handlers: { [name]: async () => (handled++, { ok: true }) },
    concurrency,
    // The worker's documented setting for many short tasks: as many held ahead as run at once.
    prefetch: concurrency,
    handleSignals: false,
    waitSeconds: 5,
  });
  try {
    if (pending === 'during') {
      cpu.start();
      started = performance.now();
      await createTasks(client, type.id, tasks, 100);
    }
    await until(() => handled >= tasks);
    const left = async (status: 'pending' | 'running') => (await client.tasks.list.query({ task_type_id: type.id, status, limit: 1 })).length;
    await until(async () => (await left('running')) + (await left('pending')) === 0, 2);
    const seconds = (performance.now() - started) / 1000;
    cpu.end(tasks);
    return tasks / seconds;
  } finally {
    await worker.stop();
  }
}

/** Create → claim → complete through the worker runtime; the server's peak RSS kept across concurrencies. */
async function lifecycleRate(ctx: Context, concurrency: number, tasks: number, cpu: CpuWindow): Promise<number> {
  const peakRss = ctx.server.watchRss();
  try {
    return await workerRate(ctx, `bench_lifecycle_${concurrency}`, concurrency, tasks, 'during', cpu);
  } finally {
    ctx.figures.rss_lifecycle_peak_mib = Math.max(ctx.figures.rss_lifecycle_peak_mib ?? 0, peakRss());
  }
}

/** The plan's lifecycle tasks all pending before a worker of `DRAIN_CONCURRENCY` starts. */
const drainRate = (ctx: Context, cpu: CpuWindow) => workerRate(ctx, 'bench_drain', DRAIN_CONCURRENCY, ctx.plan.lifecycleTasks, 'before', cpu);

/** Create → handler start, one task at a time, through an idle worker's waiting claim. */
async function latencySamples(ctx: Context): Promise<number[]> {
  const { server, client, plan } = ctx;
  const type = await client.taskTypes.create.mutate({ name: 'bench_latency' });
  let entered: ((at: number) => void) | undefined;
  const worker = createWorker({
    url: server.url,
    handlers: { bench_latency: () => entered?.(performance.now()) },
    concurrency: 1,
    handleSignals: false,
  });
  const samples: number[] = [];
  try {
    for (let trial = 0; trial < plan.latencyTasks; trial++) {
      // Idle: the previous task settled and the worker's next claim is waiting on the server.
      await until(() => worker.active === 0, 1);
      await new Promise((resolve) => setTimeout(resolve, 5));
      const handlerStarted = new Promise<number>((resolve) => (entered = resolve));
      const sent = performance.now();
      await client.tasks.create.mutate({ task_type_id: type.id });
      samples.push((await handlerStarted) - sent);
    }
  } finally {
    await worker.stop();
  }
  return samples;
}

/** Growth of the database per pending task, adding the plan's storage tasks through the client. */
async function bytesPerTask(ctx: Context): Promise<number> {
  const { client, plan, engine } = ctx;
  const type = await client.taskTypes.create.mutate({ name: 'bench_storage' });
  const before = await engine.storageBytes();
  await createTasks(client, type.id, plan.storageTasks, FILL_BATCH);
  return ((await engine.storageBytes()) - before) / plan.storageTasks;
}

/** PrismQ's scenarios, as `runScenarios` runs them. */
const SCENARIOS: Scenarios<Context> = {
  batchCall: 'POST /api/tasks/batch',
  create: createRate,
  moreCreates,
  batch: batchRate,
  lifecycle: lifecycleRate,
  drain: drainRate,
  latency: latencySamples,
  storage: bytesPerTask,
};

/** A storage engine to run the server on: its database, and what to do before and after. */
interface Engine {
  result: SystemResult;
  /** The name its progress lines start with. */
  system: string;
  /** DATABASE_URL: a SQLite file's path or a PostgreSQL URL. */
  databaseUrl: string;
  /** More of the server's environment. */
  env: Record<string, string>;
  /** CPU time of the server side so far: the server process's, and the database server's if it has one. */
  serverCpu(server: ServerProcess): ServerCpu;
  /** Bytes the database holds now (pages in use; tables with their indexes). */
  storageBytes(): Promise<number>;
  /** Fails if the started server is not on this engine. */
  check(): Promise<void>;
  cleanup(): Promise<void>;
}

/** A SQLite file in a temporary folder. */
function sqliteEngine(): Engine {
  const dir = tmp();
  const databaseUrl = join(dir, 'queue.db');
  return {
    result: {
      name: 'PrismQ',
      detail: `HTTP API (fastify, tRPC, trpc-to-openapi) on SQLite (synchronous = FULL); ${WORKER_SETUP}`,
      figures: {},
      notes: [...NOTES, 'server CPU: the server process (/proc); bytes per task: growth of the pages in use (page_count − freelist_count, committed WAL included), read by a read-only connection'],
    },
    system: 'prismq',
    databaseUrl,
    env: {},
    serverCpu: (server) => () => server.cpuMs(),
    async storageBytes() {
      const file = new Database(databaseUrl, { readonly: true });
      try {
        const pragma = (name: string) => file.pragma(name, { simple: true }) as number;
        return (pragma('page_count') - pragma('freelist_count')) * pragma('page_size');
      } finally {
        file.close();
      }
    },
    check: async () => {},
    cleanup: async () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** The export of `@prismq/db` that says it has a PostgreSQL engine, if it has one. */
export function postgresEngineExport(): string | undefined {
  return ['PostgresTaskStore'].find((name) => name in db);
}

/**
 * A fresh PostgreSQL database beside the one `postgresUrl` names, created for the run and dropped
 * after it; or why PrismQ on PostgreSQL is skipped: `@prismq/db` has no PostgreSQL engine yet,
 * or the server cannot be reached.
 */
async function postgresEngine(postgresUrl: string, log: Log): Promise<Engine | SystemResult> {
  const result: SystemResult = { name: 'PrismQ on PostgreSQL', detail: `HTTP API (fastify, tRPC, trpc-to-openapi) on PostgreSQL; ${WORKER_SETUP}`, figures: {}, notes: [] };
  if (!postgresEngineExport()) return { ...result, skipped: '@prismq/db has no PostgreSQL engine yet (it exports no PostgresTaskStore)' };
  let database: FreshDatabase;
  try {
    const sql = await connectSql(postgresUrl);
    try {
      result.detail = `HTTP API (fastify, tRPC, trpc-to-openapi) on ${await describeServer(sql, postgresUrl)}; ${WORKER_SETUP}`;
    } finally {
      await sql.end().catch(() => {});
    }
    database = await freshDatabase(postgresUrl, log);
  } catch (error) {
    return { ...result, skipped: unreachable(postgresUrl, error) };
  }
  result.notes!.push(
    ...NOTES,
    `a fresh database (DATABASE_URL=${redact(database.url)}), dropped afterwards`,
    `${POSTGRES_CPU_NOTE}; PrismQ's server CPU is its server process's plus this`,
    "bytes per task: growth of the database's tables with their indexes and TOAST (pg_total_relation_size), after VACUUM FULL",
  );
  const postgresCpu = postgresServerCpu(postgresUrl);
  // Where a server that took the URL for a file path would put that file: a folder removed afterwards.
  const dir = tmp();
  return {
    result,
    system: 'prismq on PostgreSQL',
    databaseUrl: database.url,
    env: { INIT_CWD: dir },
    serverCpu: (server) => async () => server.cpuMs() + (await postgresCpu()),
    async storageBytes() {
      const sql = await connectSql(database.url);
      try {
        // As for Graphile Worker: the space of rows the earlier scenarios rewrote is not reused.
        await sql.query('VACUUM FULL');
        const { rows } = await sql.query<{ bytes: string | null }>(
          `SELECT sum(pg_total_relation_size(c.oid)) AS bytes FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'`,
        );
        return Number(rows[0]?.bytes ?? NaN);
      } finally {
        await sql.end().catch(() => {});
      }
    },
    async check() {
      if ((await database.tables()).length === 0) {
        throw new Error('the server started but created no table in the fresh database: it does not run on PostgreSQL (yet)');
      }
    },
    async cleanup() {
      await database.drop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Every scenario on one server started on `engine`'s database (after checking the engine), in
 * the order every system runs them; the server's idle memory first. A failure to start becomes
 * a note.
 */
async function onEngine(engine: Engine, plan: BenchPlan, log: Log): Promise<void> {
  const { result } = engine;
  const notes = (result.notes ??= []);
  try {
    await withServer(
      engine.databaseUrl,
      async (server) => {
        await engine.check();
        // Idle: started, migrated, and answered a request.
        const client = createPrismqClient({ url: server.url, batch: false });
        await client.taskTypes.list.query({});
        result.figures.rss_idle_mib = server.rssMiB();
        const ctx: Context = { plan, log, serverCpu: engine.serverCpu(server), server, client, engine, figures: result.figures };
        await runScenarios(engine.system, ctx, result.figures, notes, SCENARIOS);
      },
      engine.env,
    );
  } catch (error) {
    notes.push(`stopped early: ${describe(error)}`);
    log(`${engine.system}: stopped early: ${describe(error)}`);
  }
}

/**
 * PrismQ's figures on SQLite (`sqlite`) and on PostgreSQL (`postgresUrl`), each a system of its
 * own, skipped where not asked for: on each engine in turn, one server takes every scenario in
 * the order and under the conditions every anchor does (latency after the loads, this process's
 * garbage collected before each scenario).
 */
export async function benchPrismq(plan: BenchPlan, log: Log, engines: { sqlite: boolean; postgresUrl?: string }): Promise<[SystemResult, SystemResult]> {
  const notSelected = (name: string): SystemResult => ({ name, detail: '', figures: {}, skipped: 'not selected (--only)' });
  const sqlite = engines.sqlite ? sqliteEngine() : notSelected('PrismQ');
  const postgres = engines.postgresUrl ? await postgresEngine(engines.postgresUrl, log) : notSelected('PrismQ on PostgreSQL');
  const running = [sqlite, postgres].filter((engine): engine is Engine => 'databaseUrl' in engine);
  try {
    for (const engine of running) await onEngine(engine, plan, log);
  } finally {
    for (const engine of running) await engine.cleanup();
  }
  return [sqlite, postgres].map((engine) => ('databaseUrl' in engine ? engine.result : engine)) as [SystemResult, SystemResult];
}
