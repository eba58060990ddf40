/**
 * PrismQ measured as users meet it: the real server in its own process, driven over HTTP by
 * autocannon (creates, batches, reads) and by the `@prismq/client` worker runtime (lifecycle,
 * latency), from this process.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createPrismqClient, createWorker, type PrismqClient } from '@prismq/client';
import autocannon from 'autocannon';
import { IDLE_POLLS, LIFECYCLE_CONCURRENCIES, percentile, type BenchPlan, type Figures, type Log, type SystemResult } from './figures.js';
import { startServer, type RunningServer } from './server.js';

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

export async function withServer<T>(path: string, run: (server: RunningServer) => Promise<T>): Promise<T> {
  const server = await startServer(path);
  try {
    return await run(server);
  } finally {
    await server.stop();
  }
}

/** Scenarios 1 and 2: creates one per request (REST, tRPC; 1 and 32 connections), then batches of 100. */
async function creates(plan: BenchPlan, server: RunningServer, client: PrismqClient, figures: Partial<Figures>, log: Log) {
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
async function createsBesideIdlePolls(plan: BenchPlan, server: RunningServer, client: PrismqClient, figures: Partial<Figures>, log: Log) {
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

/** Scenario 4: create → claim → complete through the worker runtime, at each concurrency. */
async function lifecycle(plan: BenchPlan, server: RunningServer, client: PrismqClient, figures: Partial<Figures>, log: Log) {
  const peakRss = server.watchRss();
  for (const concurrency of LIFECYCLE_CONCURRENCIES) {
    log(`prismq: lifecycle of ${plan.lifecycleTasks} tasks, worker concurrency ${concurrency}`);
    const name = `bench_lifecycle_${concurrency}`;
    const type = await client.taskTypes.create.mutate({ name });
    let handled = 0;
    const worker = createWorker({
      url: server.url,
      handlers: { [name]: async () => (handled++, { ok: true }) },
      concurrency,
      handleSignals: false,
      waitSeconds: 5,
    });
    const started = performance.now();
    for (let made = 0; made < plan.lifecycleTasks; made += 100) {
      const size = Math.min(100, plan.lifecycleTasks - made);
      await client.tasks.createBatch.mutate({ tasks: Array.from({ length: size }, (_, n) => ({ task_type_id: type.id, parameters: { n } })) });
    }
    await until(() => handled >= plan.lifecycleTasks);
    // Done once the server has recorded every task completed: none left pending or running.
    const left = async (status: 'pending' | 'running') => (await client.tasks.list.query({ task_type_id: type.id, status, limit: 1 })).length;
    await until(async () => (await left('running')) + (await left('pending')) === 0, 2);
    figures[`lifecycle_${concurrency}`] = plan.lifecycleTasks / ((performance.now() - started) / 1000);
    await worker.stop();
  }
  figures.rss_lifecycle_peak_mib = peakRss();
}

/** Scenario 5: create → handler start on an idle server, one task at a time, through a waiting claim. */
async function latency(plan: BenchPlan, server: RunningServer, client: PrismqClient, figures: Partial<Figures>, log: Log) {
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

export async function benchPrismq(plan: BenchPlan, log: Log): Promise<SystemResult> {
  const dir = tmp();
  const figures: Partial<Figures> = {};
  try {
    await withServer(join(dir, 'queue.db'), async (server) => {
      // Idle: started, migrated, and answered a request of each kind the scenarios use.
      const client = createPrismqClient({ url: server.url, batch: false });
      await client.taskTypes.list.query({});
      figures.rss_idle_mib = server.rssMiB();
      // Latency first, while this process (whose clients are measured too) has not yet piled
      // up the garbage of the load scenarios: measured after them, its own collections moved
      // the p99 from about 8 to about 11 ms, while a fresh client process against a server that
      // had taken those loads saw 7-8 ms.
      await latency(plan, server, client, figures, log);
      await creates(plan, server, client, figures, log);
      await createsBesideIdlePolls(plan, server, client, figures, log);
      await lifecycle(plan, server, client, figures, log);
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return { name: 'PrismQ', detail: 'HTTP API (fastify, tRPC, trpc-to-openapi) on SQLite', figures };
}
