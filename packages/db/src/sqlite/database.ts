import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { drizzle, type BetterSQLite3Database } from 'drizzle-orm/better-sqlite3';
import { migrate } from 'drizzle-orm/better-sqlite3/migrator';
import * as schema from '../schema.js';

export type SqliteDb = BetterSQLite3Database<typeof schema> & { $client: Database.Database };

export const MIGRATIONS_FOLDER = fileURLToPath(new URL('../../drizzle', import.meta.url));

export interface OpenSqliteOptions {
  /** How long a writer waits for another connection's lock before failing, in milliseconds. */
  busyTimeoutMs?: number;
}

/**
 * Opens (creating it and its folder if needed) a SQLite database in WAL mode with foreign keys
 * enforced, and applies any pending migrations.
 */
export function openSqlite(path: string, options: OpenSqliteOptions = {}): SqliteDb {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  const client = new Database(path);
  try {
    client.pragma(`busy_timeout = ${options.busyTimeoutMs ?? 5000}`);
    client.pragma('journal_mode = WAL');
    // FULL: a commit is on disk before the API acknowledges it, even across power loss.
    client.pragma('synchronous = FULL');
    client.pragma('foreign_keys = ON');
    const db = drizzle(client, { schema });
    migrate(db, { migrationsFolder: MIGRATIONS_FOLDER });
    return db;
  } catch (error) {
    client.close();
    throw error;
  }
}
