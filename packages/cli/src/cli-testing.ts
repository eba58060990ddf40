/**
 * For the tests: runs the built CLI (dist/main.js, as `prismq` runs once installed) as a child
 * process, asynchronously, since the test server answers from the test's own process.
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createPrismqClient, type PrismqClient } from '@prismq/client';
import { startTestServer, type TestServer } from '@prismq/server/testing';
import { afterAll, beforeAll } from 'vitest';

export const packageDir = fileURLToPath(new URL('..', import.meta.url));
const MAIN = join(packageDir, 'dist', 'main.js');

/**
 * Fails early, and says why, when dist/main.js is missing; warns when it is older than a source
 * (only a warning: a turbo cache hit leaves an up-to-date build with its old time).
 */
export function checkBuilt(): void {
  const rebuild = 'run `pnpm exec turbo run build --filter=@prismq/cli` (turbo run test builds first)';
  if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: ${rebuild}`);
  const built = statSync(MAIN).mtimeMs;
  const sources = (dir: string): string[] =>
    readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
      entry.isDirectory() ? sources(join(dir, entry.name)) : entry.name.endsWith('.test.ts') || entry.name.endsWith('-testing.ts') ? [] : [join(dir, entry.name)],
    );
  const stale = sources(join(packageDir, 'src')).find((file) => statSync(file).mtimeMs > built);
  if (stale) process.stderr.write(`warning: ${MAIN} is older than ${stale}; if the tests fail, ${rebuild}\n`);
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  /** Environment variables, over a clean environment (no PRISMQ_URL or PRISMQ_TOKEN of the caller). */
  env?: Record<string, string>;
  /** Written to the command's stdin (which is closed in any case). */
  input?: string;
}

const baseEnv = (env: Record<string, string> = {}): NodeJS.ProcessEnv => ({ PATH: process.env.PATH ?? '', ...env });

/** Runs `prismq …args` to its end. */
export function run(args: string[], options: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(process.execPath, [MAIN, ...args], { env: baseEnv(options.env), timeout: 30_000 }, (error, stdout, stderr) => {
      if (error && typeof error.code !== 'number') return reject(error);
      resolve({ code: error ? (error.code as number) : 0, stdout, stderr });
    });
    child.stdin?.end(options.input ?? '');
  });
}

/** A command that runs until stopped (events), with what it printed so far. */
export interface Running {
  readonly stdout: string;
  readonly stderr: string;
  /** Sends the signal and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export function start(args: string[], options: RunOptions = {}): Running {
  const child = spawn(process.execPath, [MAIN, ...args], { env: baseEnv(options.env), stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (text: string) => (stdout += text));
  child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return {
    get stdout() {
      return stdout;
    },
    get stderr() {
      return stderr;
    },
    async stop(signal = 'SIGINT') {
      if (child.exitCode === null) child.kill(signal);
      return exited;
    },
  };
}

/** The environment that points the CLI at a test server. */
export const at = (server: TestServer, env: Record<string, string> = {}): RunOptions => ({ env: { PRISMQ_URL: server.url, ...env } });

/** A client for setting up what a test needs (the CLI is what is tested). */
export const clientOf = (server: TestServer, token?: string): PrismqClient => createPrismqClient({ url: server.url, token, batch: false });

/**
 * The test file's server, started once before its tests (after checking the build) and stopped
 * after them, with a client of it for setting up what a command should show.
 */
export function useCliServer(): { readonly server: TestServer; readonly client: PrismqClient } {
  const state = {} as { server: TestServer; client: PrismqClient };
  beforeAll(async () => {
    checkBuilt();
    state.server = await startTestServer();
    state.client = clientOf(state.server);
  });
  afterAll(() => state.server?.close());
  return state;
}
