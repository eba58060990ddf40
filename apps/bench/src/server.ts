/**
 * Runs the real server as `pnpm start` does (its `start` script, e.g. `node … dist/main.js`, built
 * by `pnpm bench` first) in its own process on a given database, and reads its resident memory
 * from /proc.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { serverDir, startArguments } from '@prismq/server/start-command';

export interface RunningServer {
  url: string;
  pid: number;
  /** Resident set size now, MiB; NaN where /proc is not available. */
  rssMiB(): number;
  /** Samples RSS every `everyMs` until the returned function is called, which gives the peak. */
  watchRss(everyMs?: number): () => number;
  /** SIGTERM, then resolves once the process exited (its WAL checkpointed). */
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  const probe = createServer();
  probe.listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const { port } = probe.address() as { port: number };
  probe.close();
  await once(probe, 'close');
  return port;
}

function readRssMiB(pid: number): number {
  try {
    const kib = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kib ? Number(kib) / 1024 : NaN;
  } catch {
    return NaN;
  }
}

export async function startServer(databasePath: string, env: Record<string, string> = {}): Promise<RunningServer> {
  const port = await freePort();
  const child: ChildProcess = spawn(process.execPath, startArguments(), {
    cwd: serverDir,
    env: { PATH: process.env.PATH, PORT: String(port), DATABASE_URL: databasePath, LOG_LEVEL: 'warn', NODE_ENV: 'production', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the server exited before it was ready: ${stderr}`);
    const ready = await fetch(`${url}/readyz`).then(
      (response) => response.ok,
      () => false,
    );
    if (ready) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`the server was not ready within 30 s: ${stderr}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const pid = child.pid!;
  return {
    url,
    pid,
    rssMiB: () => readRssMiB(pid),
    watchRss(everyMs = 100) {
      let peak = readRssMiB(pid);
      const timer = setInterval(() => (peak = Math.max(peak, readRssMiB(pid))), everyMs);
      return () => {
        clearInterval(timer);
        return Math.max(peak, readRssMiB(pid));
      };
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      await once(child, 'exit');
    },
  };
}
