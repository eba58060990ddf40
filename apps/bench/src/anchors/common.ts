/**
 * What the anchors share: batch sizes and time limits, messages for errors and URLs, the version
 * of an installed package, pauses and deadlines.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { Figures, Log } from '../figures.js';

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

/** Runs one scenario, labelled `label`, with `run`. */
export type Attempt = (label: string, run: () => Promise<void>) => Promise<void>;

/**
 * Runs one scenario of `system` with `run`, logging its label; a failure becomes a note and a log
 * line rather than an error, so that the other scenarios still run.
 */
export function attempter(system: string, log: Log, notes: string[]): Attempt {
  return async (label, run) => {
    log(`${system}: ${label}`);
    try {
      await run();
    } catch (error) {
      notes.push(`${label} failed: ${describe(error)}`);
      log(`${system}: ${label} failed: ${describe(error)}`);
    }
  };
}

/**
 * The create scenarios of an anchor, each through `attempt`: `create_1` and `create_32` from
 * `createRate` with that many callers, then `batch_100` from `batchRate`, 100 jobs per `batchCall`.
 */
export async function createScenarios(
  attempt: Attempt,
  figures: Partial<Figures>,
  createRate: (loops: 1 | 32) => Promise<number>,
  batchCall: string,
  batchRate: () => Promise<number>,
): Promise<void> {
  for (const loops of [1, 32] as const) {
    await attempt(`create, ${loops} caller(s)`, async () => {
      figures[`create_${loops}`] = await createRate(loops);
    });
  }
  await attempt(`batch create, 100 per ${batchCall}, 4 callers`, async () => {
    figures.batch_100 = await batchRate();
  });
}
