import { randomUUID } from 'node:crypto';
import fastifyCors from '@fastify/cors';
import type { TaskStore } from '@prismq/db';
import type { TRPCError } from '@trpc/server';
import { fastifyTRPCPlugin, type CreateFastifyContextOptions } from '@trpc/server/adapters/fastify';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { fastifyTRPCOpenApiPlugin } from 'trpc-to-openapi';
import { createAuthenticator, type AuthMode } from './auth.js';
import type { Config } from './config.js';
import { registerDocs } from './docs.js';
import { MAX_JSON_DEPTH, nestsDeeperThan } from './json-depth.js';
import { httpStatusOf, type Detail } from './errors.js';
import { registerMetrics } from './metrics.js';
import { buildOpenApiDocument } from './openapi.js';
import { LongPollLimiter } from './queue/claim.js';
import { appRouter, procedureMeta } from './router.js';
import type { Context } from './trpc.js';

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
  /** How often expired leases are tidied, in milliseconds. */
  sweepIntervalMs?: number;
  /** On close, how long in-flight requests may take before their connections are cut, in milliseconds. */
  shutdownGraceMs?: number;
}

/** Sends `{"detail": ...}` with a status, the one error body of the REST API. */
const sendDetail = (reply: FastifyReply, status: number, detail: Detail) =>
  reply.code(status).type('application/json; charset=utf-8').send({ detail });

/** A caller's X-Request-Id when it is short and plain, else a fresh one. */
function requestId(request: { headers: Record<string, string | string[] | undefined> }): string {
  const given = request.headers['x-request-id'];
  return typeof given === 'string' && /^[\w.:@/+=-]{1,128}$/.test(given) ? given : randomUUID();
}

const RETENTION_BATCH = 500;
const RETENTION_INTERVAL_MS = 60_000;

/**
 * Builds the HTTP application: tRPC at /trpc, the same procedures as REST at /api, the OpenAPI
 * document at /api/openapi.json, the API reference at /docs, probes at /healthz and /readyz, and
 * Prometheus metrics at /metrics.
 */
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
    sweepIntervalMs = 5000,
    shutdownGraceMs = 10_000,
  } = options;

  const app = Fastify({
    logger: {
      level: logLevel,
      redact: { paths: ['req.headers.authorization', 'req.headers.cookie'], censor: '[redacted]' },
      ...(logStream ? { stream: logStream } : {}),
    },
    bodyLimit,
    // tRPC batches name every procedure in the path (`/trpc/tasks.complete,tasks.complete,…`).
    routerOptions: { maxParamLength: 5000 },
    return503OnClosing: true,
    genReqId: requestId,
    // Errors found before routing (a malformed URL) get the `{"detail": ...}` body too.
    frameworkErrors: (error, _request, reply) => sendDetail(reply, 400, error.message),
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
  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
  });

  // On close, waiting claims answer at once (with what they have, usually []) and other requests
  // get a grace period; connections still open after it (e.g. a client that went away without
  // closing its socket) are cut, so that closing always ends.
  const shutdown = new AbortController();
  app.addHook('preClose', async () => {
    shutdown.abort();
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
  if (retentionDays !== undefined) {
    every(RETENTION_INTERVAL_MS, 'retention', async () => {
      const before = new Date(Date.now() - retentionDays * 86_400_000).toISOString();
      // Small batches, so that other writers are never held up for long.
      let deleted: number;
      do deleted = await store.deleteFinishedTasks(before, RETENTION_BATCH);
      while (deleted === RETENTION_BATCH && !shutdown.signal.aborted);
    });
  }

  // Errors raised by Fastify itself (unreadable JSON, oversized body, …) before a procedure runs.
  app.setErrorHandler((error: FastifyError, request, reply) => {
    const status = error.statusCode && error.statusCode >= 400 && error.statusCode < 500 ? error.statusCode : 500;
    if (status === 500) {
      request.log.error({ err: error }, 'unhandled error');
      return sendDetail(reply, 500, 'Internal server error');
    }
    if (error.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || error instanceof SyntaxError) {
      return sendDetail(reply, 422, [{ loc: ['body'], msg: `Invalid JSON: ${error.message}`, type: 'json_invalid' }]);
    }
    if (error.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
      const type = request.headers['content-type'] ?? 'none';
      return sendDetail(reply, 415, `Unsupported Content-Type '${type}': send the body as JSON with Content-Type: application/json`);
    }
    if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      return sendDetail(reply, 413, `Request body is larger than ${bodyLimit} bytes`);
    }
    return sendDetail(reply, status, error.message);
  });
  app.setNotFoundHandler((request, reply) => sendDetail(reply, 404, `Not found: ${request.method} ${request.url.split('?')[0]}`));

  // Absurdly nested JSON is refused before anything walks it recursively.
  app.addHook('preValidation', async (request, reply) => {
    if (nestsDeeperThan(request.body, MAX_JSON_DEPTH)) {
      return sendDetail(reply, 422, [{ loc: ['body'], msg: `JSON must not nest deeper than ${MAX_JSON_DEPTH} levels`, type: 'json_invalid' }]);
    }
  });

  if (corsOrigins.length > 0) {
    await app.register(fastifyCors, { origin: corsOrigins, exposedHeaders: ['x-request-id'] });
  }

  const logServerError = ({ error, req }: { error: { code: string; cause?: unknown }; req: FastifyRequest }) => {
    if (error.code === 'INTERNAL_SERVER_ERROR') req.log.error({ err: error.cause ?? error }, 'procedure failed');
  };
  const authenticate = createAuthenticator(store, auth, loopback);
  const longPolls = new LongPollLimiter(maxLongPolls);
  const context = async (transport: Context['transport'], request: FastifyRequest, signal: AbortSignal): Promise<Context> => {
    let either: AbortSignal | undefined;
    return {
      store,
      transport,
      // Only long polls listen to it: combined on first use, not for every request.
      get signal() {
        return (either ??= AbortSignal.any([signal, shutdown.signal]));
      },
      auth: await authenticate(request.headers.authorization),
      longPolls,
    };
  };

  await app.register(fastifyTRPCPlugin, {
    prefix: '/trpc',
    trpcOptions: {
      router: appRouter,
      createContext: ({ req, info }: CreateFastifyContextOptions) => context('trpc', req, info.signal),
      onError: logServerError,
    },
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
    // JSON bodies must be valid UTF-8; an empty one reads as {}.
    const defaultJsonParser = api.getDefaultJsonParser('error', 'error');
    const utf8 = new TextDecoder('utf-8', { fatal: true });
    api.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body, done) => {
      let text: string;
      try {
        text = utf8.decode(body as Buffer);
      } catch {
        return done(Object.assign(new SyntaxError('the body is not valid UTF-8'), { statusCode: 400 }), undefined);
      }
      if (text === '') return done(null, {});
      defaultJsonParser(request, text, done);
    });
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
          return status === 401 ? { status, headers: { 'www-authenticate': 'Bearer' } } : { status };
        }
        const status = ctx?.responseStatus ?? (paths?.[0] ? procedureMeta.get(paths[0])?.successStatus : undefined);
        return status ? { status } : {};
      },
    });
  });

  await registerDocs(app);

  app.get('/healthz', () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    if (shutdown.signal.aborted) return sendDetail(reply, 503, 'Shutting down');
    return (await store.ping()) ? { status: 'ready' } : sendDetail(reply, 503, 'Database unavailable or not migrated');
  });

  const restRoutes = new Set(
    Object.entries(openApiDocument.paths ?? {}).flatMap(([path, item]) =>
      Object.keys(item as object).map((method) => `${method.toUpperCase()} /api${path.replace(/\{\w+\}/g, '{id}')}`),
    ),
  );
  registerMetrics(app, store, restRoutes);

  return app;
}
