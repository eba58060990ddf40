/**
 * What the anchors share: batch sizes and time limits, messages for errors and URLs, the version
 * of an installed package, pauses and deadlines, counting finished jobs, and the order and
 * labels of the scenarios.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { DRAIN_CONCURRENCY, LIFECYCLE_CONCURRENCIES, percentile, type BenchPlan, type Figures, type Log } from '../figures.js';

/** Jobs per bulk add (`addBulk`, `insert`) when filling a queue for the lifecycle and for storage. */
export const LIFECYCLE_BATCH = 100;
export const STORAGE_BATCH = 1000;
/** Longest wait for one latency trial, and for a whole lifecycle run, before giving up. */
export const TRIAL_TIMEOUT_MS = 10_000;
export const LIFECYCLE_TIMEOUT_MS = 120_000;
/** How long the reachability check of a server may take. */
export const CONNECT_TIMEOUT_MS = 2_000;

/** An error's message, or the messages of an `AggregateError` (as `net` raises for a host with several addresses). */
export function describe(error: unknown): string {
  if (error instanceof AggregateError && !error.message) return error.errors.map(describe).join('; ');
  return error instanceof Error ? error.message : String(error);
}

/** `url` without its password, for messages. */
export function redact(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString().replace(/\/$/, '');
  } catch {
    return url;
  }
}

/** "host:port" of a server URL, with `defaultPort` (and `defaultHost`) where it names none. */
export function hostPort(url: string, defaultPort: number, defaultHost = ''): string {
  try {
    const parsed = new URL(url);
    return `${parsed.hostname || defaultHost}:${parsed.port || defaultPort}`;
  } catch {
    return url;
  }
}

/** Version of an installed package, from the package.json above the file Node resolves it to. */
export function packageVersion(name: string): string {
  let dir = dirname(createRequire(import.meta.url).resolve(name));
  for (;;) {
    const file = join(dir, 'package.json');
    if (existsSync(file)) {
      const manifest = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string };
      if (manifest.name === name && manifest.version) return manifest.version;
    }
    const parent = dirname(dir);
    if (parent === dir) return 'unknown';
    dir = parent;
  }
}

/** Resolves after `ms`. */
export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Resolves once `probe` is true, looking every `everyMs`; fails naming `what` after `ms`. */
export async function until(probe: () => Promise<boolean> | boolean, ms: number, what: string, everyMs = 5): Promise<void> {
  const deadline = performance.now() + ms;
  while (!(await probe())) {
    if (performance.now() > deadline) throw new Error(`${what} did not finish within ${ms / 1000} s`);
    await sleep(everyMs);
  }
}

/**
 * A count of finished jobs that can be waited on: `reached(n)` resolves once `add` has counted n,
 * and rejects if `fail` is called first (a worker that stopped on an error).
 */
export class Tally {
  count = 0;
  private failure: Error | undefined;
  private waiters: { n: number; resolve: () => void; reject: (error: Error) => void }[] = [];

  add(jobs = 1): void {
    this.count += jobs;
    this.waiters = this.waiters.filter((waiter) => (waiter.n <= this.count ? (waiter.resolve(), false) : true));
  }

  fail(error: Error): void {
    this.failure ??= error;
    for (const waiter of this.waiters) waiter.reject(error);
    this.waiters = [];
  }

  reached(n: number): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.count >= n) return Promise.resolve();
    return new Promise((resolve, reject) => this.waiters.push({ n, resolve, reject }));
  }
}

/** `promise`, or an error naming `what` once `ms` have passed. */
export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms / 1000} s`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** The data of every job the anchors add: a number. */
export interface BenchData {
  n: number;
}

/** What every anchor's scenarios are given. */
export interface AnchorContext {
  plan: BenchPlan;
  log: Log;
}

/**
 * An anchor's scenarios, each given the anchor's context and giving its figure; run in the same
 * order and with the same workload for every anchor by `runScenarios`.
 */
export interface AnchorScenarios<Context extends AnchorContext> {
  /** Jobs added per second, one per call, by `loops` concurrent callers. */
  create(ctx: Context, loops: 1 | 32): Promise<number>;
  /** What the anchor calls adding many jobs at once, e.g. "addBulk". */
  batchCall: string;
  /** Jobs added per second, 100 per `batchCall`, by 4 concurrent callers. */
  batch(ctx: Context): Promise<number>;
  /** What the anchor calls a worker's concurrency, e.g. "batchSize" (default "worker concurrency"). */
  concurrencyName?: string;
  /** Jobs per second while the plan's lifecycle jobs are added 100 at a time and a worker of `concurrency` runs them. */
  lifecycle(ctx: Context, concurrency: number): Promise<number>;
  /** Jobs per second when the plan's lifecycle jobs are all pending before a worker of `DRAIN_CONCURRENCY` starts. */
  drain(ctx: Context): Promise<number>;
  /** Create → handler start, ms, one job at a time on an idle queue, the plan's latency trials. */
  latency(ctx: Context): Promise<number[]>;
  /** Bytes of storage per pending job, adding the plan's storage jobs. */
  storage(ctx: Context): Promise<number>;
}

/**
 * Runs an anchor's scenarios, each on its own, logging its label under `system`: a failure
 * becomes a note and a log line rather than an error, leaving that figure out, so that the other
 * scenarios still run. Creates by 1 and 32 callers, batches, lifecycle at each concurrency,
 * drain, latency, storage.
 */
export async function runScenarios<Context extends AnchorContext>(
  system: string,
  ctx: Context,
  figures: Partial<Figures>,
  notes: string[],
  scenarios: AnchorScenarios<Context>,
): Promise<void> {
  const { plan, log } = ctx;
  const attempt = async (label: string, run: () => Promise<void>) => {
    log(`${system}: ${label}`);
    try {
      await run();
    } catch (error) {
      notes.push(`${label} failed: ${describe(error)}`);
      log(`${system}: ${label} failed: ${describe(error)}`);
    }
  };
  const concurrencyName = scenarios.concurrencyName ?? 'worker concurrency';
  for (const loops of [1, 32] as const) {
    await attempt(`create, ${loops} caller(s)`, async () => {
      figures[`create_${loops}`] = await scenarios.create(ctx, loops);
    });
  }
  await attempt(`batch create, 100 per ${scenarios.batchCall}, 4 callers`, async () => {
    figures.batch_100 = await scenarios.batch(ctx);
  });
  for (const concurrency of LIFECYCLE_CONCURRENCIES) {
    await attempt(`lifecycle of ${plan.lifecycleTasks} jobs, ${concurrencyName} ${concurrency}`, async () => {
      figures[`lifecycle_${concurrency}`] = await scenarios.lifecycle(ctx, concurrency);
    });
  }
  await attempt(`drain of ${plan.lifecycleTasks} pending jobs, ${concurrencyName} ${DRAIN_CONCURRENCY}`, async () => {
    figures.drain_10 = await scenarios.drain(ctx);
  });
  await attempt(`latency over ${plan.latencyTasks} jobs`, async () => {
    const samples = await scenarios.latency(ctx);
    if (samples.length !== plan.latencyTasks) throw new Error(`${samples.length} latency samples instead of ${plan.latencyTasks}`);
    figures.latency_p50_ms = percentile(samples, 50);
    figures.latency_p99_ms = percentile(samples, 99);
  });
  await attempt(`storage of ${plan.storageTasks} jobs`, async () => {
    figures.bytes_per_task = await scenarios.storage(ctx);
  });
}
