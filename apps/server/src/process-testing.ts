/**
 * Test helpers that run the server's entry point in its own process (`node --import tsx src/main.ts`,
 * from source; `pnpm start` runs the built bundle, see start-command.ts), for tests that kill
 * processes or share one database between several.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readResponse, type TestResponse } from './testing.js';

const serverDir = fileURLToPath(new URL('..', import.meta.url));
const LISTENING = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/;

export interface ServerProcess {
  child: ChildProcess;
  /** The server's origin, e.g. `http://127.0.0.1:43125`. */
  url: string;
  output(): { stdout: string; stderr: string };
  /** Sends `signal` and resolves with the exit code (null when killed by a signal) once the process is gone. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

const live = new Set<ChildProcess>();
const dirs: string[] = [];

const exited = (child: ChildProcess) => child.exitCode !== null || child.signalCode !== null;

async function waitForExit(child: ChildProcess): Promise<number | null> {
  if (!exited(child)) await once(child, 'exit');
  return child.exitCode;
}

/**
 * Spawns a server on `databasePath` with PORT=0 and resolves once it logs the address it listens
 * on; rejects if it exits first or is not listening within `timeoutMs`.
 */
export async function startServerProcess(
  databasePath: string,
  env: Record<string, string> = {},
  timeoutMs = 20_000,
): Promise<ServerProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: serverDir,
    env: { PATH: process.env.PATH, PORT: '0', DATABASE_URL: databasePath, LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  live.add(child);
  child.once('exit', () => live.delete(child));
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const output = () => ({ stdout, stderr });

  const url = await new Promise<string>((resolve, reject) => {
    const check = () => {
      const found = LISTENING.exec(stdout)?.[1];
      if (found) finish(() => resolve(found));
    };
    const onExit = () =>
      finish(() => reject(new Error(`server exited (${child.exitCode ?? child.signalCode}) before listening: ${stderr || stdout}`)));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      finish(() => reject(new Error(`server not listening within ${timeoutMs} ms: ${stderr || stdout}`)));
    }, timeoutMs);
    const finish = (settle: () => void) => {
      clearTimeout(timer);
      child.stdout!.off('data', check);
      child.off('exit', onExit);
      settle();
    };
    child.stdout!.on('data', check);
    child.once('exit', onExit);
    check();
  });

  return {
    child,
    url,
    output,
    async stop(signal = 'SIGTERM') {
      if (!exited(child)) child.kill(signal);
      return waitForExit(child);
    },
  };
}

/** SIGKILLs every server process still running and waits for them to be gone; for afterEach. */
export async function killAllServerProcesses(): Promise<void> {
  const children = [...live];
  for (const child of children) child.kill('SIGKILL');
  await Promise.all(children.map(waitForExit));
}

/** A temporary folder removed by `removeTempDirs()`. */
export function tempDir(prefix = 'prismq-process-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(dir);
  return dir;
}

export function removeTempDirs(): void {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
}

export type ApiResponse = TestResponse;

/**
 * One JSON request. Rejects only when no HTTP answer arrived (connection refused or reset,
 * timeout); any status resolves.
 */
export async function api(url: string, method: string, path: string, body?: unknown, timeoutMs = 10_000): Promise<ApiResponse> {
  const response = await fetch(url + path, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(timeoutMs),
  });
  return readResponse(response);
}

/** Polls `probe` until it returns a value other than undefined, or fails after `timeoutMs`. */
export async function waitFor<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
