export * from './errors.js';
export * as schema from './schema.js';
export * from './types.js';
export { ParameterValidator, type ParameterValidatorOptions } from './parameters.js';
export * as rules from './rules/index.js';
export { retryDelaySeconds } from './rules/backoff.js';
export * from './store.js';
export { MIGRATIONS_FOLDER, openSqlite } from './sqlite/database.js';
export { SqliteTaskStore, type SqliteTaskStoreOptions } from './sqlite/store.js';
