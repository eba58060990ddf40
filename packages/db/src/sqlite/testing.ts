import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach } from 'vitest';
import type { OpenSqliteOptions } from './database.js';
import { SqliteTaskStore } from './store.js';

/**
 * For tests: `open()` gives a store on a new file in a temporary folder; every store opened is
 * closed and its folder removed after each test.
 */
export function useTempStores(): (options?: OpenSqliteOptions) => { store: SqliteTaskStore; path: string } {
  const dirs: string[] = [];
  const stores: SqliteTaskStore[] = [];
  afterEach(async () => {
    for (const store of stores.splice(0)) await store.close();
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });
  return (options) => {
    const dir = mkdtempSync(join(tmpdir(), 'prismq-store-'));
    dirs.push(dir);
    const path = join(dir, 'queue.db');
    const store = new SqliteTaskStore(path, options);
    stores.push(store);
    return { store, path };
  };
}
