export { buildApp, type AppOptions } from './app.js';
export { loadConfig, defaultDatabasePath, type Config } from './config.js';
// The router, its schemas and the OpenAPI document live in @prismq/api; re-exported for whoever
// imports them from here.
export * from '@prismq/api';
