import { DomainError, type ApiToken, type TaskStore, type TokenScope } from '@prismq/db';
import { initTRPC, TRPCError } from '@trpc/server';
import type { OpenApiMeta } from 'trpc-to-openapi';
import type { LongPollLimiter } from './queue/claim.js';
import { detailOf, fromDomainError, httpStatusOf, summarize, type FieldLocator } from './errors.js';

export interface Context {
  store: TaskStore;
  /** Which door the call came in by; REST error details name the path, query or body. */
  transport: 'rest' | 'trpc';
  /** Aborted when the client goes away or the server shuts down: long polls answer at once. */
  signal: AbortSignal;
  /** Set by a procedure when its REST status differs from its usual success status. */
  responseStatus?: number;
  /** Caps the claims that wait at once. */
  longPolls: LongPollLimiter;
  /** Whether this request must carry a token, and the token it carried, if valid. */
  auth: { required: boolean; token: ApiToken | undefined; presented: boolean };
}

/** What a procedure does, for access control: each token scope grants some of these. */
export type Access = 'read' | 'produce' | 'work' | 'admin';

export const SCOPE_GRANTS: Record<TokenScope, readonly Access[]> = {
  admin: ['read', 'produce', 'work', 'admin'],
  producer: ['read', 'produce'],
  worker: ['read', 'work'],
  read: ['read'],
};

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
  /** What the procedure does; tokens need a scope that grants it. Default: admin. */
  access?: Access;
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

/** With authentication on, a request needs a valid token whose scopes grant the procedure's access. */
const authorize = t.middleware(({ ctx, meta, next }) => {
  const access = meta?.access ?? 'admin';
  const { required, token, presented } = ctx.auth;
  if (!required) return next();
  if (!token) {
    throw new TRPCError({
      code: 'UNAUTHORIZED',
      message: presented ? 'Invalid or revoked API token' : 'An API token is required: send Authorization: Bearer <token>',
    });
  }
  if (!token.scopes.some((scope) => SCOPE_GRANTS[scope].includes(access))) {
    const allowed = (Object.keys(SCOPE_GRANTS) as TokenScope[]).filter((scope) => SCOPE_GRANTS[scope].includes(access));
    throw new TRPCError({
      code: 'FORBIDDEN',
      message: `Token '${token.name}' (scopes: ${token.scopes.join(', ')}) may not do this; it needs one of: ${allowed.join(', ')}`,
    });
  }
  return next();
});

export const router = t.router;
export const publicProcedure = t.procedure.use(authorize).use(domainErrors);
export const createCallerFactory = t.createCallerFactory;
