export { buildApp, type AppOptions } from './app.js';
export { loadConfig, defaultDatabasePath, type Config } from './config.js';
export { buildOpenApiDocument } from './openapi.js';
export { appRouter, type AppRouter } from './router.js';
export * from './schemas.js';
