import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import Database from 'better-sqlite3';
import { drizzle, type BetterSQLite3Database } from 'drizzle-orm/better-sqlite3';
import { readMigrationFiles } from 'drizzle-orm/migrator';
import * as schema from '../schema.js';

export type SqliteDb = BetterSQLite3Database<typeof schema> & { $client: Database.Database };

/** Found through the package, so that it holds from source and from a bundle of the server alike. */
export const MIGRATIONS_FOLDER = join(dirname(createRequire(import.meta.url).resolve('@prismq/db/package.json')), 'drizzle');

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
    withBusyRetry(() => client.pragma('journal_mode = WAL'));
    // FULL: a commit is on disk before the API acknowledges it, even across power loss.
    client.pragma('synchronous = FULL');
    client.pragma('foreign_keys = ON');
    withBusyRetry(() => migrate(client));
    return drizzle(client, { schema });
  } catch (error) {
    client.close();
    throw error;
  }
}

/**
 * Applies pending migrations, deciding which are pending only once the write lock is held, so
 * that several processes starting together on one file apply each migration once. Keeps the
 * bookkeeping table and format of drizzle's own migrator.
 */
function migrate(client: Database.Database): void {
  const migrations = readMigrationFiles({ migrationsFolder: MIGRATIONS_FOLDER });
  client
    .transaction(() => {
      client.exec('CREATE TABLE IF NOT EXISTS "__drizzle_migrations" (id SERIAL PRIMARY KEY, hash text NOT NULL, created_at numeric)');
      const last = client.prepare('SELECT created_at FROM "__drizzle_migrations" ORDER BY created_at DESC LIMIT 1').get() as
        | { created_at: number | string }
        | undefined;
      const record = client.prepare('INSERT INTO "__drizzle_migrations" ("hash", "created_at") VALUES (?, ?)');
      for (const migration of migrations) {
        if (last && Number(last.created_at) >= migration.folderMillis) continue;
        for (const statement of migration.sql) if (statement.trim()) client.exec(statement);
        record.run(migration.hash, migration.folderMillis);
      }
    })
    .immediate();
}

/**
 * Retries an operation that SQLite may refuse with SQLITE_BUSY without waiting for the busy
 * timeout (switching a new file to WAL while another process opens it).
 */
function withBusyRetry<T>(operation: () => T, timeoutMs = 5000): T {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return operation();
    } catch (error) {
      if ((error as { code?: string }).code !== 'SQLITE_BUSY' || Date.now() > deadline) throw error;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
    }
  }
}
