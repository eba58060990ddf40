import { readMigrationFiles } from 'drizzle-orm/migrator';
import postgres from 'postgres';
import { describe, expect, it } from 'vitest';
import { postgresTestUrl, usePostgresStores } from '../testing/postgres.js';
import { POSTGRES_MIGRATIONS_FOLDER } from './database.js';

describe.skipIf(!postgresTestUrl())('migrations', () => {
  const stores = usePostgresStores();

  it('are applied once when several stores open a new database at the same time', async () => {
    const opened = await Promise.all(Array.from({ length: 6 }, () => stores.open({ poolSize: 2 })));
    const type = await opened[0]!.createTaskType({ name: 'migrated' });
    // Every store sees one schema.
    for (const store of opened) expect((await store.getTaskType(type.id)).name).toBe('migrated');

    const sql = postgres(stores.url(), { max: 1, onnotice: () => {} });
    try {
      const applied = await sql<{ hash: string; created_at: string }[]>`SELECT hash, created_at FROM drizzle.__drizzle_migrations ORDER BY id`;
      const files = readMigrationFiles({ migrationsFolder: POSTGRES_MIGRATIONS_FOLDER });
      // Drizzle's bookkeeping: one row per migration, its hash and its folder time.
      expect(applied.map((row) => [row.hash, Number(row.created_at)])).toEqual(files.map((file) => [file.hash, file.folderMillis]));
    } finally {
      await sql.end();
    }
    // Opening again applies nothing.
    await stores.open();
  });
});
