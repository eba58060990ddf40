/** Opening a store by what DATABASE_URL says: PostgreSQL for a `postgres://` URL, SQLite for anything else. */
import { isPostgresUrl } from './postgres/database.js';
import { describeUrl } from './postgres/storage.js';
import { PostgresTaskStore, type PostgresTaskStoreOptions } from './postgres/store.js';
import { SqliteTaskStore, type SqliteTaskStoreOptions } from './sqlite/store.js';
import type { TaskStore } from './store.js';

export { isPostgresUrl };

export type OpenStoreOptions = SqliteTaskStoreOptions & PostgresTaskStoreOptions;

/** The SQLite file a `sqlite:` or `file:` URL, or a plain path, names. */
export const sqlitePathOf = (url: string): string => url.replace(/^(sqlite|file):(\/\/)?/, '');

/**
 * Opens the store at `url`: a `postgres://` or `postgresql://` URL opens PostgreSQL (connecting
 * and applying its migrations first, hence async); a file path, or a `sqlite:` or `file:` URL,
 * opens (creating it if needed) a SQLite file. Options that concern the other engine are ignored.
 */
export async function openStore(url: string, options: OpenStoreOptions = {}): Promise<TaskStore> {
  if (isPostgresUrl(url)) return PostgresTaskStore.open(url, options);
  return new SqliteTaskStore(sqlitePathOf(url), options);
}

/** The database at `url` as messages and logs may name it: a PostgreSQL URL without its user and password, a SQLite path as it is. */
export const databaseLabel = (url: string): string => (isPostgresUrl(url) ? `postgres://${describeUrl(url)}` : sqlitePathOf(url));
