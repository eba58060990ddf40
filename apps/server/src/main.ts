import { SqliteTaskStore } from '@prismq/db';
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

let store: SqliteTaskStore;
try {
  store = new SqliteTaskStore(config.databasePath);
} catch (error) {
  fail(`cannot open the database at ${config.databasePath} (DATABASE_URL): ${(error as Error).message}`);
}

// Secure by default: a server other machines can reach needs tokens, unless told otherwise.
const loopback = isLoopback(config.host);
if (!loopback && config.auth === 'auto' && !(await store.hasActiveTokens())) {
  await store.close();
  fail(
    `HOST=${config.host} is reachable from other machines and no API token exists: ` +
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
  await store.close(); // checkpoints the WAL into the database file
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
app.log.info({ database: config.databasePath, auth: config.auth }, 'PrismQ Task API ready; API reference at /docs');
