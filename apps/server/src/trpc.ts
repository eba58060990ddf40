import { DomainError, type TaskStore } from '@prismq/db';
import { initTRPC } from '@trpc/server';
import type { OpenApiMeta } from 'trpc-to-openapi';
import { detailOf, fromDomainError, httpStatusOf, summarize, type FieldLocator } from './errors.js';

export interface Context {
  store: TaskStore;
  /** Which door the call came in by; REST error details name the path, query or body. */
  transport: 'rest' | 'trpc';
  /** Aborted when the client goes away or the server shuts down: long polls answer at once. */
  signal: AbortSignal;
  /** Set by a procedure when its REST status differs from its usual success status. */
  responseStatus?: number;
}

/**
 * Procedure metadata: the REST route (read by trpc-to-openapi) and its success status.
 * Declared here rather than as trpc-to-openapi's OpenApiMeta so that the router's type, which
 * the client package publishes, does not depend on the server's libraries.
 */
export type Meta = {
  openapi?: {
    method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
    path: `/${string}`;
    summary?: string;
    description?: string;
    tags?: string[];
    errorResponses?: number[];
  };
  /** The REST status of a success, when it is not 200. */
  successStatus?: 201 | 204;
};
// Meta must stay a subset of what trpc-to-openapi reads.
const metaFitsOpenApi: Meta extends OpenApiMeta ? true : false = true;
void metaFitsOpenApi;

/**
 * Tells, for a procedure, whether an input field travels in the REST path, query or body.
 * Filled in by router.ts once the router exists.
 */
export const restFieldLocators = new Map<string, FieldLocator>();
const trpcLocator: FieldLocator = () => 'input';

const t = initTRPC
  .context<Context>()
  .meta<Meta>()
  .create({
    // The error shape is built here in full, so no stack trace is ever sent, in any mode.
    errorFormatter({ shape, error, path, ctx }) {
      const locate = (ctx?.transport === 'rest' && path && restFieldLocators.get(path)) || trpcLocator;
      const detail = detailOf(error, locate);
      const httpStatus = httpStatusOf(error);
      return {
        message: summarize(detail),
        code: shape.code,
        data: { code: error.code, httpStatus, path, detail },
      };
    },
  });

/** Maps the store's domain errors (not found, conflict, invalid state) to their tRPC codes. */
const domainErrors = t.middleware(async ({ next }) => {
  const result = await next();
  if (!result.ok && result.error.cause instanceof DomainError) throw fromDomainError(result.error.cause);
  return result;
});

export const router = t.router;
export const publicProcedure = t.procedure.use(domainErrors);
export const createCallerFactory = t.createCallerFactory;
