import { DomainError, type TaskStore } from '@prismq/db';
import { initTRPC, TRPCError } from '@trpc/server';
import { TRPC_ERROR_CODES_BY_KEY, type TRPC_ERROR_CODE_KEY } from '@trpc/server/rpc';
import type { OpenApiMeta } from 'trpc-to-openapi';
import { refusal, type Access, type Auth } from './auth.js';
import type { LongPollLimiter } from './queue/claim.js';
import type { ChangeHub } from './events/hub.js';
import type { StreamLimiter } from './events/limiter.js';
import { detailOf, fromDomainError, httpStatusOf, reasonOf, summarize, type Detail, type ErrorReason, type FieldLocator } from './errors.js';
import { DecodedName } from './schemas.js';

export interface Context {
  store: TaskStore;
  /** Which door the call came in by; REST error details name the path, query or body. */
  transport: 'rest' | 'trpc';
  /** Aborted when the client goes away or the server shuts down: long polls answer at once. */
  signal: AbortSignal;
  /** Set by a procedure when its REST status differs from its usual success status. */
  responseStatus?: number;
  /** Set by a procedure: headers of its REST answer, such as the link to the next page. */
  responseHeaders?: Record<string, string>;
  /** On REST, the request's path and query as the client sent them (`/api/tasks?…`), for links to other pages. */
  url?: string;
  /** Caps the claims that wait at once. */
  longPolls: LongPollLimiter;
  /** This server's reader of the log of changes: live events and waits for results subscribe to it. */
  changes: ChangeHub;
  /** Caps the live event streams open at once. */
  eventStreams: StreamLimiter;
  /** Whether this request must carry a token, and the token it carried, if valid. */
  auth: Auth;
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
  /** What the procedure does; tokens need a scope that grants it. Default: admin. */
  access?: Access;
};
// Meta must stay a subset of what trpc-to-openapi reads.
const metaFitsOpenApi: Meta extends OpenApiMeta ? true : false = true;
void metaFitsOpenApi;

/**
 * Tells, for a procedure, whether an input field travels in the REST path, query or body.
 * Filled in by root.ts once the router exists.
 */
export const restFieldLocators = new Map<string, FieldLocator>();
const trpcLocator: FieldLocator = () => 'input';

/**
 * The error shape of every tRPC error, built here in full, so that no stack trace is ever sent in
 * any mode. Also used for errors answered before tRPC runs (a refused token, an unreadable body).
 */
export function errorShape(error: TRPCError, path: string | undefined, transport: Context['transport'] = 'trpc') {
  const locate = (transport === 'rest' && path && restFieldLocators.get(path)) || trpcLocator;
  return shapeOf(error.code, httpStatusOf(error), path, detailOf(error, locate), reasonOf(error));
}

function shapeOf(code: TRPC_ERROR_CODE_KEY, httpStatus: number, path: string | undefined, detail: Detail, reason?: ErrorReason) {
  return { message: summarize(detail), code: TRPC_ERROR_CODES_BY_KEY[code], data: { code, httpStatus, path, detail, ...(reason ? { reason } : {}) } };
}

const CODE_OF_STATUS: Record<number, TRPC_ERROR_CODE_KEY> = {
  400: 'BAD_REQUEST',
  401: 'UNAUTHORIZED',
  403: 'FORBIDDEN',
  404: 'NOT_FOUND',
  408: 'TIMEOUT',
  413: 'PAYLOAD_TOO_LARGE',
  415: 'UNSUPPORTED_MEDIA_TYPE',
  422: 'UNPROCESSABLE_CONTENT',
  429: 'TOO_MANY_REQUESTS',
  503: 'SERVICE_UNAVAILABLE',
};

/**
 * The body tRPC would send for an error answered before tRPC runs (a refused token, an unreadable
 * body): one error per call of a batch (`?batch=1`), else one.
 */
export function trpcErrorBody(procedures: string, batch: boolean, status: number, detail: Detail) {
  const code = CODE_OF_STATUS[status] ?? 'INTERNAL_SERVER_ERROR';
  if (!batch) return { error: shapeOf(code, status, procedures, detail) };
  return procedures.split(',').map((path) => ({ error: shapeOf(code, status, path, detail) }));
}

/** How often an idle event stream sends a ping. */
export const SSE_PING_MS = 10_000;

const t = initTRPC
  .context<Context>()
  .meta<Meta>()
  .create({
    errorFormatter: ({ error, path, ctx }) => errorShape(error, path, ctx?.transport),
    // Live events (server-sent events): a ping keeps an idle stream's connection from being cut
    // as idle, here or by a proxy, and lets the client notice a dead one and reconnect.
    sse: {
      ping: { enabled: true, intervalMs: SSE_PING_MS },
      client: { reconnectAfterInactivityMs: SSE_PING_MS * 3 },
    },
  });

/** Maps the store's domain errors (not found, conflict, invalid state) to their tRPC codes. */
const domainErrors = t.middleware(async ({ next }) => {
  const result = await next();
  if (!result.ok && result.error.cause instanceof DomainError) throw fromDomainError(result.error.cause);
  return result;
});

/** With authentication on, a request needs a valid token whose scopes grant the procedure's access. */
/** With authentication on, a request needs a valid token whose scopes grant the procedure's access. */
const authorize = t.middleware(({ ctx, meta, next }) => {
  const refused = refusal(ctx.auth, meta?.access ?? 'admin');
  if (refused) throw refused;
  return next();
});

export const router = t.router;
export const publicProcedure = t.procedure.use(authorize).use(domainErrors);
export const createCallerFactory = t.createCallerFactory;

/**
 * A name sent as a path parameter (TaskTypeNameInput): REST gives it as it stands in the URL,
 * percent-encoded (the REST adapter does not decode it), tRPC as JSON. Once decoded it must be a
 * Name (a ZodError, so 422, otherwise); text that is not valid percent-encoding is taken as it
 * stands.
 */
export function pathName(ctx: Pick<Context, 'transport'>, text: string): string {
  let name = text;
  if (ctx.transport === 'rest') {
    try {
      name = decodeURIComponent(text);
    } catch {
      // as it stands
    }
  }
  const checked = DecodedName.safeParse({ name });
  if (!checked.success) throw new TRPCError({ code: 'BAD_REQUEST', message: 'Input validation failed', cause: checked.error });
  return checked.data.name;
}
