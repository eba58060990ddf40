/**
 * What the anchors share: batch sizes and time limits, messages for errors and URLs, the version
 * of an installed package, pauses and deadlines, and counting finished jobs. The order and
 * labels of the scenarios, shared with PrismQ, are in ../scenarios.ts.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

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
