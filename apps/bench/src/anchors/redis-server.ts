/**
 * A redis-server of the benchmark's own, for BullMQ with durable writes: started from the
 * `redis-server` on PATH on a free port of 127.0.0.1, with its files in a temporary folder, and
 * stopped (SIGTERM, then SIGKILL) and the folder removed afterwards.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '@prismq/server/process-testing';
import type { Log } from '../figures.js';
import { describe, within } from './common.js';

/** How long redis-server may take to accept connections, and to exit once asked. */
const START_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 10_000;
/** What redis-server logs once it accepts connections. */
const READY = /Ready to accept connections/;

export interface StartedRedis {
  /** redis://127.0.0.1:<port> */
  url: string;
  /** The command line, with the folder shown as <tmp>. */
  command: string;
  stop(): Promise<void>;
}

/**
 * Starts `redis-server` with `args` (beside port, bind and folder), once it accepts connections;
 * or why not (`skipped`): no `redis-server` on PATH, or it exited or hung at start-up.
 */
export async function startRedisServer(args: string[], log: Log): Promise<StartedRedis | { skipped: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'prismq-bench-redis-'));
  const port = await freePort();
  const full = ['--port', String(port), '--bind', '127.0.0.1', ...args, '--dir', dir];
  const command = `redis-server ${full.map((arg) => (arg === dir ? '<tmp>' : arg === '' ? '""' : arg)).join(' ')}`;
  const child = spawn('redis-server', full, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  let ready = false;
  const exited = once(child, 'exit').catch(() => undefined);
  const removeDir = () => rmSync(dir, { recursive: true, force: true });
  const stop = async () => {
    if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      try {
        await within(exited, STOP_TIMEOUT_MS, 'redis-server shutting down');
      } catch {
        child.kill('SIGKILL');
        await exited;
      }
    }
    removeDir();
  };
  try {
    await within(
      new Promise<void>((resolve, reject) => {
        child.once('error', reject); // ENOENT: not installed
        child.once('exit', (code, signal) => reject(new Error(`redis-server exited (${code ?? signal}) at start-up: ${output.trim().split('\n').slice(-3).join(' / ')}`)));
        // Read for as long as it runs (a full pipe would block it), kept until it is ready.
        const read = (chunk: Buffer) => {
          if (ready) return;
          output += chunk.toString('utf8');
          if (READY.test(output)) {
            ready = true;
            resolve();
          }
        };
        child.stdout.on('data', read);
        child.stderr.on('data', read);
      }),
      START_TIMEOUT_MS,
      'redis-server starting',
    );
  } catch (error) {
    await stop();
    const missing = (error as NodeJS.ErrnoException).code === 'ENOENT';
    return { skipped: missing ? 'redis-server was not found on PATH (install Redis to measure BullMQ on a Redis with appendfsync always)' : `redis-server did not start: ${describe(error)}` };
  }
  log(`bullmq-fsync: started ${command} (pid ${child.pid})`);
  return { url: `redis://127.0.0.1:${port}`, command, stop };
}
