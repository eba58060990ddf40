import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import fastifyCors from '@fastify/cors';
import {
  appRouter,
  buildOpenApiDocument,
  ChangeHub,
  createAuthenticator,
  httpStatusOf,
  LongPollLimiter,
  procedureMeta,
  storageStatusOf,
  StreamLimiter,
  type AuthMode,
  type Context,
  type Detail,
} from '@prismq/api';
import { StorageError, type TaskStore } from '@prismq/db';
import type { TRPCError } from '@trpc/server';
import { incomingMessageToRequest } from '@trpc/server/adapters/node-http';
import { resolveResponse } from '@trpc/server/http';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyRequest } from 'fastify';
import { fastifyTRPCOpenApiPlugin } from 'trpc-to-openapi';
import { addJsonParser, checkQueryInput, lowerCaseContentType } from './bodies.js';
import type { Config } from './config.js';
import { registerDocs } from './docs.js';
import { MAX_JSON_DEPTH, nestsDeeperThan } from './json-depth.js';
import { registerGate, sendError } from './gate.js';
import { registerMetrics } from './metrics.js';

export interface AppOptions {
  store: TaskStore;
  logLevel?: Config['logLevel'];
  /** Where JSON log lines go (default: stdout). */
  logStream?: NodeJS.WritableStream;
  /** `auto` (default): tokens are required once one exists, or when `loopback` is false. */
  auth?: AuthMode;
  /** Whether the server listens on a loopback address only (default true). */
  loopback?: boolean;
  /** Largest request body in bytes (default 1 MiB). */
  bodyLimit?: number;
  /** Origins allowed by CORS; none (default) leaves CORS off. */
  corsOrigins?: string[];
  /** Claims that may wait at once (default 1000); more answer 429. */
  maxLongPolls?: number;
  /** Finished tasks older than this many days are deleted; undefined (default) keeps them. */
  retentionDays?: number | undefined;
  /** Changes in the log of changes older than this many hours are deleted (default 24). */
  eventRetentionHours?: number;
  /** Live event streams open at once at most (default 1000); more answer 429. */
  maxEventStreams?: number;
  /** How often expired leases are tidied, in milliseconds. */
  sweepIntervalMs?: number;
  /** On close, how long in-flight requests may take before their connections are cut, in milliseconds. */
  shutdownGraceMs?: number;
  /** How long a client may take to send a request's headers (default 10 s). */
  headersTimeoutMs?: number;
  /** How long a client may take to send a whole request, headers and body (default 30 s). */
  requestTimeoutMs?: number;
  /** How long an idle keep-alive connection stays open between requests (default 5 s). */
  keepAliveTimeoutMs?: number;
  /** Open connections at most (default 10,000); more are closed as they arrive. */
  maxConnections?: number;
  /** Request-body bytes held in memory at once across all requests (default 64 MiB); more answer 503. */
  bodyMemoryLimit?: number;
}

/**
 * How long a connection may sit with no bytes moving either way while a request is in flight:
 * longer than the longest wait of a claim (30 s), so only clients that stopped reading are cut.
 */
const SOCKET_IDLE_TIMEOUT_MS = 120_000;


/** A caller's X-Request-Id when it is short and plain, else a fresh one. */
function requestId(request: { headers: Record<string, string | string[] | undefined> }): string {
  const given = request.headers['x-request-id'];
  return typeof given === 'string' && /^[\w.:@/+=-]{1,128}$/.test(given) ? given : randomUUID();
}

const RETENTION_BATCH = 500;
const RETENTION_INTERVAL_MS = 60_000;
/** How often the stats' rollups are brought up to date with the log of task changes. */
const STATS_FOLD_INTERVAL_MS = 5_000;

/**
 * Builds the HTTP application: tRPC at /trpc, the same procedures as REST at /api, the OpenAPI
 * document at /api/openapi.json, the API reference at /docs, probes at /healthz and /readyz, and
 * Prometheus metrics at /metrics.
 */
/**
 * The headers of an error answer, on REST and tRPC alike: how to authenticate (401), and, when the
 * server is busy or its storage briefly unavailable (429, 503), when to try again.
 */
function errorHeaders(status: number): Record<string, string> {
  if (status === 401) return { 'www-authenticate': 'Bearer' };
  if (status === 429 || status === 503) return { 'retry-after': '1' };
  return {};
}

export async function buildApp(options: AppOptions): Promise<FastifyInstance> {
  const {
    store,
    logLevel = 'info',
    logStream,
    auth = 'auto',
    loopback = true,
    bodyLimit = 1024 * 1024,
    corsOrigins = [],
    maxLongPolls = 1000,
    retentionDays,
    eventRetentionHours = 24,
    maxEventStreams = 1000,
    sweepIntervalMs = 5000,
    shutdownGraceMs = 10_000,
    headersTimeoutMs = 10_000,
    requestTimeoutMs = 30_000,
    keepAliveTimeoutMs = 5_000,
    maxConnections = 10_000,
    bodyMemoryLimit = 64 * 1024 * 1024,
  } = options;

  const app = Fastify({
    logger: {
      level: logLevel,
      redact: { paths: ['req.headers.authorization', 'req.headers.cookie'], censor: '[redacted]' },
      ...(logStream ? { stream: logStream } : {}),
    },
    bodyLimit,
    // Slow or idle clients are cut: a request must arrive whole within requestTimeoutMs (its
    // headers within headersTimeoutMs), an idle keep-alive connection closes after
    // keepAliveTimeoutMs, and Node looks for overdue connections at least every second.
    requestTimeout: requestTimeoutMs,
    keepAliveTimeout: keepAliveTimeoutMs,
    connectionTimeout: SOCKET_IDLE_TIMEOUT_MS,
    http: {
      headersTimeout: headersTimeoutMs,
      connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(headersTimeoutMs / 4))),
    },
    // tRPC batches name every procedure in the path (`/trpc/tasks.complete,tasks.complete,…`).
    routerOptions: { maxParamLength: 5000 },
    return503OnClosing: true,
    genReqId: requestId,
    // Errors found before routing (a malformed URL) get the `{"detail": ...}` body too.
    frameworkErrors: (error, request, reply) => sendError(request, reply, 400, error.message),
    // Requests too broken for HTTP parsing (oversized headers, bad bytes) are answered on the socket.
    clientErrorHandler: (error: NodeJS.ErrnoException, socket) => {
      if (error.code === 'ECONNRESET' || socket.destroyed) return;
      const status = error.code === 'HPE_HEADER_OVERFLOW' ? 431 : error.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
      const body = JSON.stringify({ detail: status === 431 ? 'Request headers are too large' : 'Malformed HTTP request' });
      socket.end(
        `HTTP/1.1 ${status} ${status === 431 ? 'Request Header Fields Too Large' : status === 408 ? 'Request Timeout' : 'Bad Request'}\r\n` +
          `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
      );
    },
  });
  app.server.maxConnections = maxConnections;
  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
    lowerCaseContentType(request);
  });
  const authenticate = createAuthenticator(store, auth, loopback);
  registerGate(app, { authenticate, bodyLimit, bodyMemoryLimit });

  // On close, waiting claims answer at once (with what they have, usually []) and other requests
  // get a grace period; connections still open after it (e.g. a client that went away without
  // closing its socket) are cut, so that closing always ends.
  const shutdown = new AbortController();
  // This server's one reader of the log of changes, for live events and waits for results.
  const changes = new ChangeHub(store, { onError: (error) => app.log.warn({ err: error }, 'reading the log of changes failed') });
  app.addHook('preClose', async () => {
    shutdown.abort();
    changes.close();
    setTimeout(() => app.server.closeAllConnections(), shutdownGraceMs).unref();
  });

  // Periodic jobs. Correctness never depends on them: claims expire leases themselves.
  const every = (ms: number, what: string, job: () => Promise<unknown>) => {
    let running = false;
    const timer = setInterval(() => {
      if (running) return;
      running = true;
      job()
        .catch((error: unknown) => app.log.error({ err: error }, `${what} failed`))
        .finally(() => (running = false));
    }, ms);
    timer.unref();
    app.addHook('onClose', async () => clearInterval(timer));
  };
  every(sweepIntervalMs, 'lease sweep', () => store.sweepExpiredLeases());
  // The stats' rollups, from the log of changes (one replica at a time): GET /api/stats folds what is left.
  every(STATS_FOLD_INTERVAL_MS, 'stats fold', () => store.foldStats());
  if (retentionDays !== undefined) {
    every(RETENTION_INTERVAL_MS, 'retention', async () => {
      const before = new Date(Date.now() - retentionDays * 86_400_000).toISOString();
      // Small batches, so that other writers are never held up for long.
      let deleted: number;
      do deleted = await store.deleteFinishedTasks(before, RETENTION_BATCH);
      while (deleted === RETENTION_BATCH && !shutdown.signal.aborted);
    });
  }

  // The log of changes is kept for eventRetentionHours, whatever becomes of the tasks.
  every(RETENTION_INTERVAL_MS, 'event retention', async () => {
    const before = new Date(Date.now() - eventRetentionHours * 3_600_000).toISOString();
    let deleted: number;
    do deleted = await store.deleteChangesBefore(before, RETENTION_BATCH);
    while (deleted === RETENTION_BATCH && !shutdown.signal.aborted);
  });

  // Errors raised by Fastify itself (unreadable JSON, oversized body, …) before a procedure runs.
  app.setErrorHandler((error: FastifyError, request, reply) => {
    // The storage failing under a hook or route (the token check's read, /metrics): its status and cause.
    if (error instanceof StorageError) {
      request.log.error({ err: error }, 'storage failure');
      return sendError(request, reply, storageStatusOf(error), error.message);
    }
    const status = error.statusCode && error.statusCode >= 400 && error.statusCode < 500 ? error.statusCode : 500;
    if (status === 500) {
      request.log.error({ err: error }, 'unhandled error');
      return sendError(request, reply, 500, 'Internal server error');
    }
    if (error.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || error instanceof SyntaxError) {
      return sendError(request, reply, 422, [{ loc: ['body'], msg: `Invalid JSON: ${error.message}`, type: 'json_invalid' }]);
    }
    if (error.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
      const type = request.headers['content-type'] ?? 'none';
      return sendError(request, reply, 415, `Unsupported Content-Type '${type}': send the body as JSON with Content-Type: application/json`);
    }
    if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      return sendError(request, reply, 413, `Request body is larger than ${bodyLimit} bytes`);
    }
    return sendError(request, reply, status, error.message);
  });
  app.setNotFoundHandler((request, reply) => sendError(request, reply, 404, `Not found: ${request.method} ${request.url.split('?')[0]}`));

  // Absurdly nested JSON is refused before anything walks it recursively.
  app.addHook('preValidation', async (request, reply) => {
    if (nestsDeeperThan(request.body, MAX_JSON_DEPTH)) {
      return sendError(request, reply, 422, [{ loc: ['body'], msg: `JSON must not nest deeper than ${MAX_JSON_DEPTH} levels`, type: 'json_invalid' }]);
    }
  });

  if (corsOrigins.length > 0) {
    await app.register(fastifyCors, { origin: corsOrigins, exposedHeaders: ['x-request-id', 'link', 'x-next-cursor'] });
  }

  const logServerError = ({ error, req }: { error: { code: string; cause?: unknown }; req: FastifyRequest }) => {
    if (error.code === 'INTERNAL_SERVER_ERROR') req.log.error({ err: error.cause ?? error }, 'procedure failed');
  };
  const longPolls = new LongPollLimiter(maxLongPolls);
  const eventStreams = new StreamLimiter(maxEventStreams);
  const context = async (transport: Context['transport'], request: FastifyRequest, signal: AbortSignal): Promise<Context> => {
    let either: AbortSignal | undefined;
    return {
      store,
      transport,
      // Only long polls listen to it: combined on first use, not for every request.
      get signal() {
        return (either ??= AbortSignal.any([signal, shutdown.signal]));
      },
      // Set by the gate before the body was read.
      auth: request.auth ?? (await authenticate(request.headers.authorization)),
      longPolls,
      changes,
      eventStreams,
      // As sent, before the REST adapter took `/api` off it: links to other pages are made from it.
      ...(transport === 'rest' ? { url: request.originalUrl } : {}),
    };
  };

  // tRPC at /trpc/<procedure>, as its Fastify plugin mounts it, but with the same body rules as REST.
  await app.register(async (trpc) => {
    addJsonParser(trpc, 'text');
    trpc.addHook('preValidation', async (request, reply) => {
      const problem = checkQueryInput((request.query as { input?: unknown }).input);
      if (problem) return sendError(request, reply, 422, [{ loc: ['query', 'input'], msg: `Invalid JSON: ${problem.message}`, type: 'json_invalid' }]);
    });
    trpc.all('/trpc/:path', async (req, res) => {
      // What tRPC's own Fastify adapter (fastifyRequestHandler) does, but for the answer: that
      // adapter hands Fastify a web Response, whose body Fastify copies from a stream as a chunked
      // answer, three socket writes per call; here the body is read whole and sent with its
      // length, in one write. That cut the server's CPU per call by more than half.
      const raw = req.raw as typeof req.raw & { body?: unknown };
      raw.body = req.body;
      const response = await resolveResponse({
        router: appRouter,
        req: incomingMessageToRequest(raw, res.raw, { maxBodySize: null }),
        path: (req.params as { path: string }).path,
        error: null,
        createContext: ({ info }) => context('trpc', req, info.signal),
        onError: (failure) => logServerError({ ...failure, req }),
        // The same headers as REST answers the same errors with (the first error's, in a batch).
        responseMeta: ({ errors: [error] }) => (error ? { headers: errorHeaders(httpStatusOf(error)) } : {}),
      });
      res.status(response.status);
      response.headers.forEach((value, name) => void res.header(name, value));
      // A subscription (live events) is a stream that lasts: sent as it comes. The socket's idle
      // timeout does not cut it, since it pings (see SSE_PING_MS); it ends when the client goes
      // away (its request's signal aborts the procedure) or the server stops (ctx.signal).
      // Its connection closes with it: kept alive, it would hold a stopping server until the
      // keep-alive timeout, having become idle only after the server started to close.
      if (response.body && response.headers.get('content-type')?.startsWith('text/event-stream')) {
        res.header('connection', 'close');
        return res.send(Readable.fromWeb(response.body as WebReadableStream<Uint8Array>));
      }
      return res.send(await response.text());
    });
  });

  const openApiDocument = buildOpenApiDocument();
  app.get('/api/openapi.json', (_request, reply) => reply.send(openApiDocument));

  await app.register(async (api) => {
    // A POST without a body (cancel, retry) needs no Content-Type; an empty JSON body reads as {}.
    api.addHook('onRequest', async (request) => {
      const noBody = !request.headers['transfer-encoding'] && (request.headers['content-length'] ?? '0') === '0';
      if (!request.headers['content-type'] && noBody && request.method !== 'GET' && request.method !== 'DELETE') {
        request.headers['content-type'] = 'application/json';
      }
    });
    addJsonParser(api, 'parsed');
    // trpc-to-openapi writes its own error shape; REST clients get `{"detail": ...}` only.
    api.addHook('onSend', async (_request, reply, payload) => {
      if (reply.statusCode === 204) {
        reply.removeHeader('content-type');
        return '';
      }
      if (reply.statusCode < 400 || typeof payload !== 'string') return payload;
      try {
        const body = JSON.parse(payload) as { detail?: Detail; data?: { detail?: Detail }; message?: string };
        if (body.detail !== undefined && Object.keys(body).length === 1) return payload;
        return JSON.stringify({ detail: body.data?.detail ?? body.detail ?? body.message ?? 'Error' });
      } catch {
        return payload;
      }
    });
    await api.register(fastifyTRPCOpenApiPlugin, {
      basePath: '/api',
      router: appRouter,
      createContext: ({ req, info }: { req: FastifyRequest; info: { signal: AbortSignal } }) => context('rest', req, info.signal),
      onError: logServerError,
      responseMeta: ({ ctx, paths, errors }: { ctx?: Context; paths?: readonly string[]; errors: readonly TRPCError[] }) => {
        const [error] = errors;
        if (error) {
          const status = httpStatusOf(error);
          return { status, headers: errorHeaders(status) };
        }
        const status = ctx?.responseStatus ?? (paths?.[0] ? procedureMeta.get(paths[0])?.successStatus : undefined);
        const headers = ctx?.responseHeaders ?? {};
        return status ? { status, headers } : { headers };
      },
    });
  });

  await registerDocs(app);

  app.get('/healthz', () => ({ status: 'ok' }));
  app.get('/readyz', async (request, reply) => {
    if (shutdown.signal.aborted) return sendError(request, reply, 503, 'Shutting down');
    // Not ready while the database is unavailable, its file gone, or writes fail (the disk full).
    const health = await store.health();
    return health.ok ? { status: 'ready' } : sendError(request, reply, 503, health.detail ?? 'Database unavailable');
  });

  const restRoutes = new Set(
    Object.entries(openApiDocument.paths ?? {}).flatMap(([path, item]) =>
      Object.keys(item as object).map((method) => `${method.toUpperCase()} /api${path.replace(/\{\w+\}/g, '{id}')}`),
    ),
  );
  registerMetrics(app, store, restRoutes, longPolls);

  return app;
}
