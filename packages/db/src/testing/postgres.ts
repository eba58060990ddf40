/**
 * PostgreSQL for tests, shared by the engine's own tests (src/postgres/*.test.ts) and the store
 * contract suite (src/contract/engines.ts): the server at PRISMQ_TEST_POSTGRES_URL (default
 * postgres://postgres@127.0.0.1:5432/test), a new database per use, dropped after.
 *
 * Whether it can be reached is decided once per run, by the global setup (./postgres-setup.ts):
 * when it cannot, the run fails if CI is set, and otherwise the PostgreSQL tests are skipped
 * with one message.
 */
import { afterAll, afterEach, beforeAll, inject } from 'vitest';
import { PostgresTaskStore, type PostgresTaskStoreOptions } from '../postgres/store.js';
import { createTestDatabase as createDatabase, type TestDatabase } from './postgres-server.js';

export type { TestDatabase } from './postgres-server.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The test server's URL when it can be reached, else null (the PostgreSQL tests are skipped). */
    postgresUrl: string | null;
  }
}

/** The test server's URL, or null when the PostgreSQL tests are to be skipped. */
export const postgresTestUrl = (): string | null => inject('postgresUrl');

/** A new, empty database on the test server. */
export const createTestDatabase = (): Promise<TestDatabase> => createDatabase(postgresTestUrl() ?? undefined);

/**
 * For a test file of the PostgreSQL engine (inside `describe.skipIf(!postgresTestUrl())`): a new
 * database before its first test, dropped after its last; `open()` gives a store on it, closed
 * after each test.
 */
export function usePostgresStores(): { url: () => string; open: (options?: PostgresTaskStoreOptions) => Promise<PostgresTaskStore> } {
  let database: TestDatabase | undefined;
  const stores: PostgresTaskStore[] = [];
  beforeAll(async () => {
    database = await createTestDatabase();
  });
  afterEach(async () => {
    for (const store of stores.splice(0)) await store.close();
  });
  afterAll(async () => {
    await database?.drop();
  });
  const url = () => {
    if (!database) throw new Error('the test database is made before the first test');
    return database.url;
  };
  return {
    url,
    async open(options) {
      const store = await PostgresTaskStore.open(url(), { poolSize: 4, ...options });
      stores.push(store);
      return store;
    },
  };
}
