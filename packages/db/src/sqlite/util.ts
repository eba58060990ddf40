export { addSeconds, nowIso } from '../rules/time.js';
export { withoutUndefined } from '../util.js';

/** True for a UNIQUE constraint failure, wherever it sits in the error's cause chain. */
export function isUniqueViolation(error: unknown): boolean {
  for (let e: unknown = error; e instanceof Error; e = e.cause) {
    if ((e as { code?: unknown }).code === 'SQLITE_CONSTRAINT_UNIQUE') return true;
  }
  return false;
}

/**
 * Prepares a module's statements once per connection, on first use: drizzle builds and SQLite
 * compiles each query once, and every later call only binds its parameters.
 */
export function preparedPer<Db extends object, T>(build: (db: Db) => T): (db: Db) => T {
  const cache = new WeakMap<Db, T>();
  return (db) => {
    let statements = cache.get(db);
    if (!statements) cache.set(db, (statements = build(db)));
    return statements;
  };
}
