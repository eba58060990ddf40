import { readFileSync } from 'node:fs';
import { databaseLabel, openStore, type TaskStore } from '@prismq/db';
import { buildApp } from './app.js';
import { ConfigError, isLoopback, loadConfig } from './config.js';

/** Longest a shutdown may take before the process exits anyway. */
const SHUTDOWN_LIMIT_MS = 30_000;

function fail(message: string): never {
  process.stderr.write(`prismq: ${message}\n`);
  process.exit(1);
}

let config;
try {
  config = loadConfig();
} catch (error) {
  if (error instanceof ConfigError) fail(error.message);
  throw error;
}

/**
 * MAX_CONNECTIONS, lowered to leave room under the process's open-file limit (Linux): past that
 * limit the server could not open its database or answer /healthz.
 */
function connectionCap(wanted: number): number {
  let limit: number;
  try {
    const soft = /^Max open files\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'))?.[1];
    if (!soft) return wanted;
    limit = Number(soft);
  } catch {
    return wanted; // not Linux
  }
  const cap = Math.max(1, limit - 128);
  if (cap >= wanted) return wanted;
  process.stderr.write(`prismq: MAX_CONNECTIONS=${wanted} is above what the open-file limit (${limit}) allows; serving at most ${cap} connections\n`);
  return cap;
}

// A SQLite file, or PostgreSQL (connected and migrated first); named without its password.
const database = databaseLabel(config.databasePath);
let store: TaskStore;
try {
  store = await openStore(config.databasePath, { validationTimeoutMs: config.validationTimeoutMs, poolSize: config.databasePoolSize });
} catch (error) {
  fail(`cannot open the database at ${database} (DATABASE_URL): ${(error as Error).message}`);
}

// Secure by default: a server other machines can reach needs tokens, unless told otherwise.
const loopback = isLoopback(config.host);
if (!loopback && config.auth === 'auto' && !(await store.listTokens()).some((token) => token.revoked_at === null)) {
  await store.close();
  fail(
    `HOST=${config.host} is reachable from other machines and no live API token exists: ` +
      'create one with `pnpm tokens create --name NAME --scopes admin`, or set AUTH=off to serve without authentication',
  );
}

const app = await buildApp({
  store,
  logLevel: config.logLevel,
  auth: config.auth,
  loopback,
  bodyLimit: config.bodyLimit,
  corsOrigins: config.corsOrigins,
  maxLongPolls: config.maxLongPolls,
  retentionDays: config.retentionDays,
  eventRetentionHours: config.eventRetentionHours,
  maxEventStreams: config.maxEventStreams,
  headersTimeoutMs: config.headersTimeoutMs,
  requestTimeoutMs: config.requestTimeoutMs,
  keepAliveTimeoutMs: config.keepAliveTimeoutMs,
  maxConnections: connectionCap(config.maxConnections),
  bodyMemoryLimit: config.bodyMemoryLimit,
});
if (config.auth === 'off' && !loopback) app.log.warn('AUTH=off on a non-loopback address: anyone who can reach the port can use the API');

let stopping = false;
async function stop(signal: string) {
  if (stopping) return;
  stopping = true;
  app.log.info({ signal }, 'shutting down');
  setTimeout(() => {
    app.log.error('shutdown took too long; exiting');
    process.exit(1);
  }, SHUTDOWN_LIMIT_MS).unref();
  await app.close(); // stops accepting, answers waiting claims, lets in-flight requests finish
  // SQLite: checkpoints the WAL into the database file. What it cannot do (the disk full) is
  // reported, and is no reason to exit with an error: nothing acknowledged is lost. PostgreSQL:
  // closes the connections; every acknowledged write is committed already.
  const { flushError, checkpointError } = await store.close();
  if (flushError) app.log.warn({ err: flushError }, 'the last queued writes could not be committed; they were refused, none acknowledged');
  if (checkpointError) {
    app.log.warn({ err: checkpointError }, 'the WAL could not be checkpointed into the database file; the WAL will be replayed at the next start');
  }
  app.log.info('stopped');
  process.exit(0);
}
process.once('SIGTERM', () => void stop('SIGTERM'));
process.once('SIGINT', () => void stop('SIGINT'));

try {
  await app.listen({ port: config.port, host: config.host });
} catch (error) {
  await store.close();
  fail(`cannot listen on ${config.host}:${config.port} (HOST, PORT): ${(error as Error).message}`);
}
app.log.info({ database, auth: config.auth }, 'PrismQ Task API ready; API reference at /docs');
