/**
 * The one way to run the server in its own process, for the tests that kill processes, share one
 * database between several servers or check how the server starts, and for the benchmark. It runs
 * the server one of three ways (`as`):
 *
 * - `source`: `node --import tsx src/main.ts`, which needs no build;
 * - `bundle`: what `pnpm start` runs after `node`, read from this package's `start` script (its V8
 *   flags and the built `dist/main.js`; turbo's test task builds it first);
 * - `npm start`: the README's command in the repository root (install, build, then turbo runs the
 *   start script), in a process group of its own, since turbo and pnpm spawn the server below it.
 *
 * Imports nothing of the server itself, so that the benchmark does not load it into its process.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** apps/server, where the server's package.json and start script are. */
export const serverDir = fileURLToPath(new URL('..', import.meta.url));
/** The repository root, where `npm start` is run. */
export const repoRoot = fileURLToPath(new URL('../../..', import.meta.url));

/** The entry point run from its TypeScript source. */
const FROM_SOURCE = ['--import', 'tsx', 'src/main.ts'];
/** Fastify's log line once the server listens (LOG_LEVEL info or lower); pino puts the pid first. */
const LISTENING = /"pid":(\d+)[^\n]*Server listening at (http:\/\/127\.0\.0\.1:\d+)/;

export type RunAs = 'source' | 'bundle' | 'npm start';

export interface ServerProcessOptions {
  /** How the server is run (default `source`). */
  as?: RunAs;
  /** Sets DATABASE_URL. */
  databasePath?: string;
  /**
   * Environment on top of PATH, PORT=0 and LOG_LEVEL=info (and HOME under `npm start`); nothing
   * else of this process's environment is passed on.
   */
  env?: Record<string, string>;
  /**
   * A command to run node under, node and its arguments following it, e.g.
   * `['bash', '-c', 'ulimit -f 64 && exec "$0" "$@"']`. Not with `npm start`.
   */
  wrapper?: string[];
  /**
   * When the server counts as started: `listening` (default) once it logs the address it listens
   * on, which needs LOG_LEVEL info or lower; `ready` once GET /readyz answers 200 on a port picked
   * here (unless env.PORT names one), whatever LOG_LEVEL.
   */
  until?: 'listening' | 'ready';
  /** How long it may take to start (default 20 s; 180 s under `npm start`, which installs and builds first). */
  timeoutMs?: number;
}

export interface SpawnedServer {
  /** The process spawned: node, the wrapper (which execs node), or npm. */
  child: ChildProcess;
  output(): { stdout: string; stderr: string };
  /** Resolves with the spawned process's exit code (null when killed by a signal) once it has exited and its output is read. */
  exited: Promise<number | null>;
  /**
   * Sends `signal` (to the whole process group under `npm start`) and resolves with the exit code
   * once the process, and under `npm start` the server below it, is gone.
   */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  /** The server's resident set size now, MiB; NaN where /proc is not available. */
  rssMiB(): number;
  /** Samples RSS every `everyMs` until the returned function is called, which gives the peak. */
  watchRss(everyMs?: number): () => number;
  /** CPU time (user plus system) the server process has used so far, ms; NaN where /proc is not available. */
  cpuMs(): number;
}

export interface ServerProcess extends SpawnedServer {
  /** The server's origin, e.g. `http://127.0.0.1:43125`. */
  url: string;
}

/** What `pnpm start` runs after `node`: the arguments of this package's `start` script. */
export function startScriptArguments(): string[] {
  const { scripts } = JSON.parse(readFileSync(join(serverDir, 'package.json'), 'utf8')) as { scripts: { start: string } };
  const [command, ...args] = scripts.start.split(/\s+/);
  if (command !== 'node') throw new Error(`expected the server's start script to run node, not: ${scripts.start}`);
  const bundle = args.at(-1)!;
  if (!existsSync(join(serverDir, bundle))) throw new Error(`${bundle} is missing: run pnpm build first (turbo's test task does)`);
  return args;
}

interface Running {
  child: ChildProcess;
  group: boolean;
  /** The server's own pid, once known (under `npm start` it is not the child's). */
  serverPid?: number;
  /** When that process started, to tell it from a later process given the same pid. */
  serverStarted?: string;
}
const live = new Set<Running>();
const dirs: string[] = [];

const exited = (child: ChildProcess) => child.exitCode !== null || child.signalCode !== null;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function signal(target: number, sig: NodeJS.Signals): void {
  try {
    process.kill(target, sig);
  } catch {
    // already gone
  }
}

/** When process `pid` started (Linux), or undefined. */
function startTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

/** Whether the server below `npm start` (in a process group of turbo's) still runs. */
function serverBelowRuns({ child, serverPid, serverStarted }: Running): boolean {
  if (serverPid === undefined || serverPid === child.pid || !alive(serverPid)) return false;
  return serverStarted === undefined || startTime(serverPid) === serverStarted;
}

/** Whether any process of `running` remains: the child, its process group, the server below it. */
function remains(running: Running): boolean {
  const { child, group } = running;
  if (!exited(child)) return true;
  if (group && alive(-child.pid!)) return true;
  return serverBelowRuns(running);
}

/** Resolves after `ms`, or sooner when the child writes to stdout or exits. */
function nextEvent(child: ChildProcess, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      child.stdout?.off('data', done);
      child.off('exit', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    child.stdout?.on('data', done);
    child.once('exit', done);
  });
}

async function gone(running: Running, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (remains(running)) {
    if (Date.now() > deadline) return false;
    // Its exit is an event; the rest of a process group can only be polled.
    await nextEvent(running.child, exited(running.child) ? 50 : deadline - Date.now());
  }
  return true;
}

function kill(running: Running, sig: NodeJS.Signals): void {
  const { child, group, serverPid } = running;
  if (group) signal(-child.pid!, sig);
  else if (!exited(child)) child.kill(sig);
  if (sig === 'SIGKILL' && serverBelowRuns(running)) signal(serverPid!, sig);
}

function readRssMiB(pid: number | undefined): number {
  try {
    const kib = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kib ? Number(kib) / 1024 : NaN;
  } catch {
    return NaN;
  }
}

/** User plus system CPU time of process `pid`, ms, from /proc (clock ticks of 10 ms). */
export function readCpuMs(pid: number | undefined): number {
  try {
    // The fields after the command name, which is in parentheses and may hold spaces.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return NaN;
  }
}

/** A port free on 127.0.0.1 a moment ago (for the benchmark's own servers too). */
export async function freePort(): Promise<number> {
  const probe = createServer();
  probe.listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const { port } = probe.address() as { port: number };
  probe.close();
  await once(probe, 'close');
  return port;
}

/**
 * Spawns a server and returns at once, without waiting for it to listen: for servers expected to
 * refuse to start. `startServerProcess` waits.
 */
export function spawnServerProcess(options: ServerProcessOptions = {}): SpawnedServer {
  const { as = 'source', databasePath, wrapper = [] } = options;
  const env: Record<string, string | undefined> = {
    PATH: process.env.PATH,
    PORT: '0',
    LOG_LEVEL: 'info',
    ...(databasePath === undefined ? {} : { DATABASE_URL: databasePath }),
    ...options.env,
  };
  const group = as === 'npm start';
  let command: string;
  let args: string[];
  if (group) {
    if (wrapper.length > 0) throw new Error('a wrapper cannot run npm start');
    [command, args] = ['npm', ['start']];
    env.HOME = process.env.HOME; // npx's cache of the pinned pnpm
    env.TURBO_TELEMETRY_DISABLED ??= '1';
  } else {
    [command = process.execPath, ...args] = [...wrapper, process.execPath, ...(as === 'bundle' ? startScriptArguments() : FROM_SOURCE)];
  }
  const child = spawn(command, args, {
    cwd: group ? repoRoot : serverDir,
    env,
    // Its own process group, so that the processes npm, pnpm and turbo start go with it.
    detached: group,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const running: Running = { child, group, ...(group ? {} : { serverPid: child.pid }) };
  live.add(running);
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
    if (running.serverPid === undefined) {
      running.serverPid = Number(LISTENING.exec(stdout)?.[1]) || undefined;
      if (running.serverPid !== undefined) running.serverStarted = startTime(running.serverPid);
    }
  });
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  // 'close' comes after 'exit' once its output has been read to the end.
  const exit = once(child, 'close').then(
    () => undefined,
    () => undefined,
  );
  const exitCode = exit.then(() => child.exitCode);
  void exit.then(() => {
    if (!remains(running)) live.delete(running);
  });

  return {
    child,
    output: () => ({ stdout, stderr }),
    exited: exitCode,
    async stop(sig = 'SIGTERM') {
      kill(running, sig);
      // The server takes up to 30 s to shut down; then whatever is left is killed.
      if (!(await gone(running, 35_000))) {
        kill(running, 'SIGKILL');
        await gone(running, 5_000);
      }
      live.delete(running);
      return exitCode;
    },
    rssMiB: () => readRssMiB(running.serverPid),
    cpuMs: () => readCpuMs(running.serverPid),
    watchRss(everyMs = 100) {
      let peak = readRssMiB(running.serverPid);
      const timer = setInterval(() => (peak = Math.max(peak, readRssMiB(running.serverPid))), everyMs);
      return () => {
        clearInterval(timer);
        return Math.max(peak, readRssMiB(running.serverPid));
      };
    },
  };
}

/**
 * Spawns a server (PORT=0 unless `env.PORT` says otherwise) and resolves once it has started (see
 * `until`); rejects, with its output, if it exits first or has not started within the time.
 */
export async function startServerProcess(options: ServerProcessOptions = {}): Promise<ServerProcess> {
  const { as = 'source', until = 'listening', timeoutMs = as === 'npm start' ? 180_000 : 20_000 } = options;
  const port = until === 'ready' ? Number(options.env?.PORT || 0) || (await freePort()) : undefined;
  const server = spawnServerProcess({ ...options, env: { ...options.env, ...(port ? { PORT: String(port) } : {}) } });
  const { child } = server;
  const deadline = Date.now() + timeoutMs;
  const failure = (why: string) => {
    const { stdout, stderr } = server.output();
    return new Error(`server (${as}) ${why}: ${stderr || stdout}`);
  };
  for (;;) {
    if (exited(child)) throw failure(`exited (${child.exitCode ?? child.signalCode}) before it had started`);
    const url =
      until === 'listening'
        ? LISTENING.exec(server.output().stdout)?.[2]
        : await fetch(`http://127.0.0.1:${port}/readyz`).then(
            (response) => (response.ok ? `http://127.0.0.1:${port}` : undefined),
            () => undefined,
          );
    if (url) return { ...server, url };
    if (Date.now() > deadline) {
      await server.stop('SIGKILL');
      throw failure(`had not started within ${timeoutMs} ms`);
    }
    await nextEvent(child, until === 'listening' ? deadline - Date.now() : 50);
  }
}

/** SIGKILLs every server process still running and waits for them to be gone; for afterEach. */
export async function killAllServerProcesses(): Promise<void> {
  const all = [...live];
  for (const running of all) kill(running, 'SIGKILL');
  await Promise.all(all.map((running) => gone(running, 10_000)));
  for (const running of all) live.delete(running);
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

export interface TestResponse {
  status: number;
  headers: Headers;
  text: string;
  /** The body parsed as JSON, or undefined when it is empty or not JSON. */
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any -- tests inspect arbitrary JSON
}
export type ApiResponse = TestResponse;

/** Reads a response whole, parsing its body as JSON when it is JSON. */
export async function readResponse(response: Response): Promise<TestResponse> {
  const text = await response.text();
  let body: unknown;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = undefined;
  }
  return { status: response.status, headers: response.headers, text, body };
}

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
