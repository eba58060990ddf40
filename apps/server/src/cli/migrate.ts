/** `pnpm db:migrate`: applies pending migrations to DATABASE_URL and exits. */
import { SqliteTaskStore } from '@prismq/db';
import { ConfigError, loadConfig } from '../config.js';

try {
  const { databasePath } = loadConfig();
  const store = new SqliteTaskStore(databasePath);
  await store.close();
  process.stdout.write(`Migrations applied to ${databasePath}\n`);
} catch (error) {
  process.stderr.write(`prismq: ${error instanceof ConfigError ? error.message : (error as Error).message}\n`);
  process.exit(1);
}
