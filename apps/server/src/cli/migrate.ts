/** `pnpm db:migrate`: applies pending migrations to DATABASE_URL (SQLite or PostgreSQL) and exits. */
import { databaseLabel, openStore } from '@prismq/db';
import { ConfigError, loadConfig } from '../config.js';

try {
  const { databasePath } = loadConfig();
  const store = await openStore(databasePath, { poolSize: 1 });
  await store.close();
  process.stdout.write(`Migrations applied to ${databaseLabel(databasePath)}\n`);
} catch (error) {
  process.stderr.write(`prismq: ${error instanceof ConfigError ? error.message : (error as Error).message}\n`);
  process.exit(1);
}
