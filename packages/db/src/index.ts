export * from './errors.js';
export * as schema from './schema.js';
export * from './types.js';
export { ParameterValidator, type ParameterValidatorOptions } from './parameters.js';
export { retryDelaySeconds } from './sqlite/queue.js';
export * from './store.js';
export { MIGRATIONS_FOLDER, openSqlite } from './sqlite/database.js';
export { SqliteTaskStore, type SqliteTaskStoreOptions } from './sqlite/store.js';
