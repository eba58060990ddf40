/**
 * The PrismQ API, independent of any HTTP host: one tRPC router whose procedures also answer
 * REST paths (trpc-to-openapi), its wire schemas, the mapping of errors to statuses and `detail`
 * bodies, the OpenAPI document, the access rules of API tokens and long-poll claims.
 * apps/server mounts it on fastify.
 */
export { appRouter, procedureMeta, type AppRouter } from './root.js';
export { trpcErrorBody, type Context, type Meta } from './trpc.js';
export { createAuthenticator, refusal, SCOPE_GRANTS, type Access, type Auth, type AuthMode } from './auth.js';
export { httpStatusOf, storageStatusOf, type Detail, type ErrorReason, type ValidationProblem } from './errors.js';
export { buildOpenApiDocument } from './openapi.js';
export { claimWithWait, LongPollLimiter } from './queue/claim.js';
export * from './schemas.js';
export { ChangeHub, type ChangeFilter, type ChangeHubOptions } from './events/hub.js';
export { StreamLimiter } from './events/limiter.js';
