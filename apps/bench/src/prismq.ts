/**
 * PrismQ measured as users meet it: the real server in its own process, driven over HTTP by
 * autocannon (creates, batches, reads) and by the `@prismq/client` worker runtime (lifecycle,
 * drain, latency), from this process. The same scenarios run on each storage engine: a SQLite
 * file, and a fresh PostgreSQL database where `@prismq/db` has that engine.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createPrismqClient, type PrismqClient } from '@prismq/client';
import { createWorker } from '@prismq/client/worker';
import * as db from '@prismq/db';
import autocannon from 'autocannon';
import { describe, redact } from './anchors/common.js';
import { DRAIN_CONCURRENCY, IDLE_POLLS, LIFECYCLE_CONCURRENCIES, percentile, type BenchPlan, type Figures, type Log, type SystemResult } from './figures.js';
import { connectSql, describeServer, freshDatabase, unreachable, type FreshDatabase } from './postgres.js';
import { startServer, type ServerProcess } from './server.js';

const JSON_HEADERS = { 'content-type': 'application/json' };

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

/** Requests (times units) per second that answered 2xx, and the p99 latency in ms. */
export async function load(plan: BenchPlan, url: string, spec: Load): Promise<{ perSecond: number; mean: number; p99: number }> {
  // autocannon takes a warm-up run before the measured one; its type definitions lack it.
  const options: autocannon.Options & { warmup: { connections: number; duration: number } } = {
    url: url + spec.path,
    connections: spec.connections,
    duration: plan.durationSeconds,
    method: spec.method ?? 'GET',
    headers: spec.body ? JSON_HEADERS : {},
    ...(spec.body ? { body: spec.body } : {}),
    ...(spec.nextPath ? { requests: [{ setupRequest: (request) => ({ ...request, path: spec.nextPath!() }) }] } : {}),
    warmup: { connections: spec.connections, duration: plan.warmupSeconds },
  };
  const result = await autocannon(options);
  const failed = result.non2xx + result.errors + result.timeouts;
  if (failed > 0) throw new Error(`${spec.method ?? 'GET'} ${spec.path}: ${failed} of ${result.requests.total} requests failed`);
  return { perSecond: (result['2xx'] / result.duration) * (spec.unitsPerRequest ?? 1), mean: result.latency.average, p99: result.latency.p99 };
}

const tmp = () => mkdtempSync(join(tmpdir(), 'prismq-bench-'));

export async function withServer<T>(path: string, run: (server: ServerProcess) => Promise<T>, env: Record<string, string> = {}): Promise<T> {
  const server = await startServer(path, env);
  try {
    return await run(server);
  } finally {
    await server.stop();
  }
}

/** Scenarios 1 and 2: creates one per request (REST, tRPC; 1 and 32 connections), then batches of 100. */
async function creates(plan: BenchPlan, server: ServerProcess, client: PrismqClient, figures: Partial<Figures>, log: Log) {
  const type = await client.taskTypes.create.mutate({
    name: 'bench_create',
    parameters_schema: { type: 'object', properties: { n: { type: 'integer' } }, required: ['n'] },
  });
  const task = JSON.stringify({ task_type_id: type.id, parameters: { n: 1 } });
  for (const connections of [1, 32] as const) {
    log(`prismq: create over REST, ${connections} connection(s)`);
    figures[`create_${connections}`] = (await load(plan, server.url, { connections, method: 'POST', path: '/api/tasks', body: task })).perSecond;
    log(`prismq: create over tRPC, ${connections} connection(s)`);
    figures[`create_trpc_${connections}`] = (
      await load(plan, server.url, { connections, method: 'POST', path: '/trpc/tasks.create', body: task })
    ).perSecond;
  }
  log('prismq: batch create, 100 per request, 4 connections');
  const batch = JSON.stringify({ tasks: Array.from({ length: 100 }, (_, n) => ({ task_type_id: type.id, parameters: { n } })) });
  figures.batch_100 = (
    await load(plan, server.url, { connections: 4, method: 'POST', path: '/api/tasks/batch', body: batch, unitsPerRequest: 100 })
  ).perSecond;
}

/**
 * Scenario 1 beside idle workers: creates over one connection while IDLE_POLLS claims of
 * another type long-poll, as a fleet of idle workers does. Each waiting claim must cost nothing
 * per create.
 */
async function createsBesideIdlePolls(plan: BenchPlan, server: ServerProcess, client: PrismqClient, figures: Partial<Figures>, log: Log) {
  log(`prismq: create over REST, 1 connection, beside ${IDLE_POLLS} waiting claims of another type`);
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
    figures.create_1_idle_polls = (await load(plan, server.url, { connections: 1, method: 'POST', path: '/api/tasks', body: task })).perSecond;
  } finally {
    polling.abort();
    await Promise.all(polls);
  }
}

/** Resolves once `probe` is true, looking every `everyMs`. */
async function until(probe: () => Promise<boolean> | boolean, everyMs = 5): Promise<void> {
  while (!(await probe())) await new Promise((resolve) => setTimeout(resolve, everyMs));
}

/** Creates `count` tasks of `typeId`, `batch` per request. */
async function createTasks(client: PrismqClient, typeId: number, count: number, batch: number): Promise<void> {
  for (let made = 0; made < count; made += batch) {
    const size = Math.min(batch, count - made);
    await client.tasks.createBatch.mutate({ tasks: Array.from({ length: size }, (_, n) => ({ task_type_id: typeId, parameters: { n } })) });
  }
}

/**
 * Tasks per second through claim → complete by a worker of `concurrency` on a new type `name`:
 * with `pending: 'during'` the plan's lifecycle tasks are created 100 per request while the
 * worker runs (timed from the first create); with `'before'` they are all created (1,000 per
 * request) before the worker starts (timed from starting it). Done once the server has recorded
 * every task completed: none left pending or running.
 */
async function workerRate(server: ServerProcess, client: PrismqClient, name: string, concurrency: number, pending: 'during' | 'before', plan: BenchPlan): Promise<number> {
  const tasks = plan.lifecycleTasks;
  const type = await client.taskTypes.create.mutate({ name });
  if (pending === 'before') await createTasks(client, type.id, tasks, 1000);
  let handled = 0;
  let started = performance.now();
  const worker = createWorker({
    url: server.url,
    handlers: { [name]: async () => (handled++, { ok: true }) },
    concurrency,
    handleSignals: false,
    waitSeconds: 5,
  });
  try {
    if (pending === 'during') {
      started = performance.now();
      await createTasks(client, type.id, tasks, 100);
    }
    await until(() => handled >= tasks);
    const left = async (status: 'pending' | 'running') => (await client.tasks.list.query({ task_type_id: type.id, status, limit: 1 })).length;
    await until(async () => (await left('running')) + (await left('pending')) === 0, 2);
    return tasks / ((performance.now() - started) / 1000);
  } finally {
    await worker.stop();
  }
}

/** Scenario 4: create → claim → complete through the worker runtime, at each concurrency; then the drain. */
async function lifecycle(plan: BenchPlan, server: ServerProcess, client: PrismqClient, figures: Partial<Figures>, log: Log) {
  const peakRss = server.watchRss();
  for (const concurrency of LIFECYCLE_CONCURRENCIES) {
    log(`prismq: lifecycle of ${plan.lifecycleTasks} tasks, worker concurrency ${concurrency}`);
    figures[`lifecycle_${concurrency}`] = await workerRate(server, client, `bench_lifecycle_${concurrency}`, concurrency, 'during', plan);
  }
  figures.rss_lifecycle_peak_mib = peakRss();
  log(`prismq: drain of ${plan.lifecycleTasks} pending tasks, worker concurrency ${DRAIN_CONCURRENCY}`);
  figures.drain_10 = await workerRate(server, client, 'bench_drain', DRAIN_CONCURRENCY, 'before', plan);
}

/** Scenario 5: create → handler start on an idle server, one task at a time, through a waiting claim. */
async function latency(plan: BenchPlan, server: ServerProcess, client: PrismqClient, figures: Partial<Figures>, log: Log) {
  log(`prismq: long-poll latency over ${plan.latencyTasks} tasks`);
  const type = await client.taskTypes.create.mutate({ name: 'bench_latency' });
  let entered: ((at: number) => void) | undefined;
  const worker = createWorker({
    url: server.url,
    handlers: { bench_latency: () => entered?.(performance.now()) },
    concurrency: 1,
    handleSignals: false,
  });
  const samples: number[] = [];
  for (let trial = 0; trial < plan.latencyTasks; trial++) {
    // Idle: the previous task settled and the worker's next claim is waiting on the server.
    await until(() => worker.active === 0, 1);
    await new Promise((resolve) => setTimeout(resolve, 5));
    const handlerStarted = new Promise<number>((resolve) => (entered = resolve));
    const sent = performance.now();
    await client.tasks.create.mutate({ task_type_id: type.id });
    samples.push((await handlerStarted) - sent);
  }
  await worker.stop();
  figures.latency_p50_ms = percentile(samples, 50);
  figures.latency_p99_ms = percentile(samples, 99);
}

/** A storage engine to run the server on: its database, and what to do before and after. */
interface Engine {
  result: SystemResult;
  /** DATABASE_URL: a SQLite file's path or a PostgreSQL URL. */
  databaseUrl: string;
  /** More of the server's environment. */
  env: Record<string, string>;
  log: Log;
  /** Fails if the started server is not on this engine. */
  check(): Promise<void>;
  cleanup(): Promise<void>;
}

/** A SQLite file in a temporary folder. */
function sqliteEngine(log: Log): Engine {
  const dir = tmp();
  return {
    result: { name: 'PrismQ', detail: 'HTTP API (fastify, tRPC, trpc-to-openapi) on SQLite', figures: {} },
    databaseUrl: join(dir, 'queue.db'),
    env: {},
    log,
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
  const result: SystemResult = { name: 'PrismQ on PostgreSQL', detail: 'HTTP API (fastify, tRPC, trpc-to-openapi) on PostgreSQL', figures: {}, notes: [] };
  if (!postgresEngineExport()) return { ...result, skipped: '@prismq/db has no PostgreSQL engine yet (it exports no PostgresTaskStore)' };
  let database: FreshDatabase;
  try {
    const sql = await connectSql(postgresUrl);
    try {
      result.detail = `HTTP API (fastify, tRPC, trpc-to-openapi) on ${await describeServer(sql, postgresUrl)}`;
    } finally {
      await sql.end().catch(() => {});
    }
    database = await freshDatabase(postgresUrl, log);
  } catch (error) {
    return { ...result, skipped: unreachable(postgresUrl, error) };
  }
  result.notes!.push(`a fresh database (DATABASE_URL=${redact(database.url)}), dropped afterwards`);
  // Where a server that took the URL for a file path would put that file: a folder removed afterwards.
  const dir = tmp();
  return {
    result,
    databaseUrl: database.url,
    env: { INIT_CWD: dir },
    log: (line) => log(line.replace(/^prismq:/, 'prismq on PostgreSQL:')),
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
 * Runs `run` on a server started on `engine`'s database, after checking the engine, then stops
 * the server. A failure becomes a note and stops the engine's later scenarios.
 */
async function onServer(engine: Engine, failed: Set<Engine>, run: (server: ServerProcess, client: PrismqClient) => Promise<void>): Promise<void> {
  if (failed.has(engine)) return;
  try {
    await withServer(
      engine.databaseUrl,
      async (server) => {
        await engine.check();
        // Idle: started, migrated, and answered a request of each kind the scenarios use.
        const client = createPrismqClient({ url: server.url, batch: false });
        await client.taskTypes.list.query({});
        await run(server, client);
      },
      engine.env,
    );
  } catch (error) {
    failed.add(engine);
    (engine.result.notes ??= []).push(`stopped early: ${describe(error)}`);
    engine.log(`prismq: stopped early: ${describe(error)}`);
  }
}

/**
 * PrismQ's figures on SQLite (`sqlite`) and on PostgreSQL (`postgresUrl`), each a system of its
 * own, skipped where not asked for. First, on each engine in turn, a fresh server's idle memory
 * and the latency, while this process (whose clients are measured too) has not yet piled up the
 * garbage of the load scenarios: measured after them, its own collections moved the p99 from
 * about 8 to about 11 ms, while a fresh client process against a server that had taken those
 * loads saw 7-8 ms. Then, on each engine, a server restarted on the same database takes the loads.
 */
export async function benchPrismq(plan: BenchPlan, log: Log, engines: { sqlite: boolean; postgresUrl?: string }): Promise<[SystemResult, SystemResult]> {
  const notSelected = (name: string): SystemResult => ({ name, detail: '', figures: {}, skipped: 'not selected (--only)' });
  const sqlite = engines.sqlite ? sqliteEngine(log) : notSelected('PrismQ');
  const postgres = engines.postgresUrl ? await postgresEngine(engines.postgresUrl, log) : notSelected('PrismQ on PostgreSQL');
  const running = [sqlite, postgres].filter((engine): engine is Engine => 'databaseUrl' in engine);
  const failed = new Set<Engine>();
  try {
    for (const engine of running) {
      await onServer(engine, failed, async (server, client) => {
        engine.result.figures.rss_idle_mib = server.rssMiB();
        await latency(plan, server, client, engine.result.figures, engine.log);
      });
    }
    for (const engine of running) {
      await onServer(engine, failed, async (server, client) => {
        await creates(plan, server, client, engine.result.figures, engine.log);
        await createsBesideIdlePolls(plan, server, client, engine.result.figures, engine.log);
        await lifecycle(plan, server, client, engine.result.figures, engine.log);
      });
    }
  } finally {
    for (const engine of running) await engine.cleanup();
  }
  return [sqlite, postgres].map((engine) => ('databaseUrl' in engine ? engine.result : engine)) as [SystemResult, SystemResult];
}
