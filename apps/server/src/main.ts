import { SqliteTaskStore } from '@prismq/db';
import { buildApp } from './app.js';
import { ConfigError, loadConfig } from './config.js';

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

const app = await buildApp({ store, logLevel: config.logLevel });

let stopping = false;
async function stop(signal: string) {
  if (stopping) return;
  stopping = true;
  app.log.info({ signal }, 'shutting down');
  await app.close();
  await store.close();
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
app.log.info({ database: config.databasePath }, 'PrismQ Task API ready; API reference at /docs');
