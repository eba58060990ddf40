/**
 * The engines the store contract suite runs against, and how each test file runs its cases for
 * every one of them (forEachEngine). The suite speaks only TaskStore: no SQL, no engine internals.
 *
 * To add an engine, add a factory to `engines`: its `open()` gives a new, empty store, migrated
 * and ready (a temporary file, a new database), and the `close()` that goes with it closes that
 * store, if the test has not already, and removes whatever `open()` made. Leases and delays in
 * the suite are fractions of a second: an engine must take fractional seconds in
 * `lease_seconds`, `delay_seconds` and the backoff settings.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe } from 'vitest';
import { PostgresTaskStore } from '../postgres/store.js';
import { SqliteTaskStore } from '../sqlite/store.js';
import type { TaskStore } from '../store.js';
import { createTestDatabase, postgresTestUrl } from '../testing/postgres.js';

export interface OpenedStore {
  store: TaskStore;
  /** Closes the store (a second close of it must be harmless) and removes what open() made. */
  close(): Promise<void>;
}

export interface StoreEngine {
  name: string;
  /** A new, empty store of this engine. */
  open(): Promise<OpenedStore>;
}

/**
 * SQLite on a file in a new temporary folder. Its list walks go in steps of a few entries, rather
 * than 2,000 (see sqlite/pages.ts WALK_STEP), so that every filtered page and bulk action of the
 * suite crosses steps, and must still give what PostgreSQL gives in one statement.
 */
const sqlite: StoreEngine = {
  name: 'sqlite',
  async open() {
    const dir = mkdtempSync(join(tmpdir(), 'prismq-contract-'));
    const store = new SqliteTaskStore(join(dir, 'queue.db'), { walkStep: 3 });
    return {
      store,
      async close() {
        await store.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  },
};

/** PostgreSQL: a new database on the test server for each store (see ../testing/postgres.ts), dropped on close. */
const postgresql: StoreEngine = {
  name: 'postgresql',
  async open() {
    const database = await createTestDatabase();
    let store: PostgresTaskStore;
    try {
      store = await PostgresTaskStore.open(database.url, { poolSize: 4 });
    } catch (error) {
      await database.drop();
      throw error;
    }
    return {
      store,
      async close() {
        await store.close();
        await database.drop();
      },
    };
  },
};

export const engines: StoreEngine[] = [
  sqlite,
  // Absent when the test server cannot be reached (and the run is not CI's: then it fails).
  ...(postgresTestUrl() ? [postgresql] : []),
];

/** One engine as a test file's cases see it. */
export interface EngineUnderTest {
  readonly name: string;
  /**
   * This file's store of the engine, opened before its first case and closed after its last. The
   * cases share it, so each makes its own task types (see fixtures.newType) and claims only from
   * them; a case that must see the whole store takes a fresh() one.
   */
  readonly store: TaskStore;
  /** A new, empty store of the engine, closed after the case. */
  fresh(): Promise<TaskStore>;
}

/** How long a case may take: a few of them wait for short leases and delays to run out. */
const CASE_TIMEOUT_MS = 30_000;

/** Runs `cases` (the describe/it calls of a test file) once for each engine, in a describe named after it. */
export function forEachEngine(cases: (engine: EngineUnderTest) => void): void {
  describe.each(engines.map((engine) => [engine.name, engine] as const))('%s', { timeout: CASE_TIMEOUT_MS }, (_name, engine) => {
    let shared: OpenedStore | undefined;
    const extra: OpenedStore[] = [];
    beforeAll(async () => {
      shared = await engine.open();
    }, CASE_TIMEOUT_MS);
    afterEach(async () => {
      for (const opened of extra.splice(0)) await opened.close();
    });
    afterAll(async () => {
      await shared?.close();
    });
    cases({
      name: engine.name,
      get store() {
        if (!shared) throw new Error(`the ${engine.name} store is not open: use it inside a case`);
        return shared.store;
      },
      async fresh() {
        const opened = await engine.open();
        extra.push(opened);
        return opened.store;
      },
    });
  });
}
