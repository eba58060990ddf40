import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { readMigrationFiles } from 'drizzle-orm/migrator';
import { connect, type PgClient, type PgClientOptions } from './client.js';

/** Found through the package, so that it holds from source and from a bundle of the server alike. */
export const POSTGRES_MIGRATIONS_FOLDER = join(dirname(createRequire(import.meta.url).resolve('@prismq/db/package.json')), 'drizzle-postgres');

/**
 * Advisory lock keys (pg_advisory_lock and friends) of the work that one replica at a time does:
 * applying migrations, tidying expired leases, deleting finished tasks, folding the task counts.
 */
export const LOCKS = {
  migrate: 7_307_459_101,
  sweep: 7_307_459_102,
  retention: 7_307_459_103,
  counts: 7_307_459_104,
  stats: 7_307_459_105,
  /** Deleting old changes from the log of changes (task_events). */
  eventRetention: 7_307_459_110,
} as const;

/** Whether `url` names a PostgreSQL database. */
export const isPostgresUrl = (url: string): boolean => /^postgres(ql)?:\/\//i.test(url);

/** Opens a pool on `url` and applies any pending migrations before it answers. */
export async function openPostgres(url: string, options: PgClientOptions = {}): Promise<PgClient> {
  const client = connect(url, options);
  try {
    await migrate(client);
    return client;
  } catch (error) {
    await client.end(0).catch(() => {});
    throw error;
  }
}

/**
 * Applies pending migrations in one transaction, deciding which are pending only once the
 * advisory lock is held, so that several replicas starting together apply each migration once
 * (the others wait for the lock, then find nothing to do). Keeps the bookkeeping table and format
 * of drizzle's own migrator (drizzle.__drizzle_migrations).
 */
export async function migrate(client: PgClient): Promise<void> {
  const migrations = readMigrationFiles({ migrationsFolder: POSTGRES_MIGRATIONS_FOLDER });
  await client.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock($1)', [LOCKS.migrate]);
    await tx.query('CREATE SCHEMA IF NOT EXISTS "drizzle"');
    await tx.query('CREATE TABLE IF NOT EXISTS "drizzle"."__drizzle_migrations" (id SERIAL PRIMARY KEY, hash text NOT NULL, created_at bigint)');
    const [last] = await tx.query<{ created_at: string | number }>(
      'SELECT created_at FROM "drizzle"."__drizzle_migrations" ORDER BY created_at DESC LIMIT 1',
    );
    for (const migration of migrations) {
      if (last && Number(last.created_at) >= migration.folderMillis) continue;
      for (const statement of migration.sql) if (statement.trim()) await tx.query(statement);
      await tx.query('INSERT INTO "drizzle"."__drizzle_migrations" ("hash", "created_at") VALUES ($1, $2)', [migration.hash, migration.folderMillis]);
    }
  });
}
