/**
 * The real server as `pnpm start` runs it (its `start` script, e.g. `node … dist/main.js`, built by
 * `pnpm bench` first) in its own process on a given database, through the server's one helper for
 * server processes (`@prismq/server/process-testing`), which also reads its resident memory.
 */
import { startServerProcess, type ServerProcess } from '@prismq/server/process-testing';

export type { ServerProcess };
export type RunningServer = ServerProcess;

/** Starts the server on `databaseUrl` with request logging off, once GET /readyz answers 200. */
export function startServer(databaseUrl: string, env: Record<string, string> = {}): Promise<RunningServer> {
  return startServerProcess({
    as: 'bundle',
    databasePath: databaseUrl,
    env: { LOG_LEVEL: 'warn', NODE_ENV: 'production', ...env },
    until: 'ready',
    timeoutMs: 30_000,
  });
}
