import type { TaskStore } from '@prismq/db';
import type { TRPCError } from '@trpc/server';
import { fastifyTRPCPlugin, type CreateFastifyContextOptions } from '@trpc/server/adapters/fastify';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { fastifyTRPCOpenApiPlugin } from 'trpc-to-openapi';
import type { Config } from './config.js';
import { registerDocs } from './docs.js';
import { httpStatusOf, type Detail } from './errors.js';
import { buildOpenApiDocument } from './openapi.js';
import { appRouter, procedureMeta } from './router.js';
import type { Context } from './trpc.js';

export interface AppOptions {
  store: TaskStore;
  logLevel?: Config['logLevel'];
  /** How often expired leases are tidied, in milliseconds. */
  sweepIntervalMs?: number;
  /** On close, how long in-flight requests may take before their connections are cut, in milliseconds. */
  shutdownGraceMs?: number;
}


/** Sends `{"detail": ...}` with a status, the one error body of the REST API. */
const sendDetail = (reply: FastifyReply, status: number, detail: Detail) =>
  reply.code(status).type('application/json; charset=utf-8').send({ detail });

/**
 * Builds the HTTP application: tRPC at /trpc, the same procedures as REST at /api, the OpenAPI
 * document at /api/openapi.json, the API reference at /docs and a liveness probe at /healthz.
 */
export async function buildApp({
  store,
  logLevel = 'info',
  sweepIntervalMs = 5000,
  shutdownGraceMs = 10_000,
}: AppOptions): Promise<FastifyInstance> {
  const app = Fastify({
    logger: { level: logLevel },
    // 1 MiB; larger bodies answer 413.
    bodyLimit: 1024 * 1024,
    return503OnClosing: true,
  });

  // On close, waiting claims answer at once (with what they have, usually []) and other requests
  // get a grace period; connections still open after it (e.g. a client that went away without
  // closing its socket) are cut, so that closing always ends.
  const shutdown = new AbortController();
  app.addHook('preClose', async () => {
    shutdown.abort();
    setTimeout(() => app.server.closeAllConnections(), shutdownGraceMs).unref();
  });

  // Tidies expired leases so that listings show them as pending or failed; claims never wait for it.
  const sweeper = setInterval(() => {
    store.sweepExpiredLeases().catch((error: unknown) => app.log.error({ err: error }, 'lease sweep failed'));
  }, sweepIntervalMs);
  sweeper.unref();
  app.addHook('onClose', async () => clearInterval(sweeper));

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
    if (error.code === 'FST_ERR_CTP_EMPTY_JSON_BODY') {
      return sendDetail(reply, 422, [{ loc: ['body'], msg: 'Field required', type: 'missing' }]);
    }
    return sendDetail(reply, status, error.message);
  });
  app.setNotFoundHandler((request, reply) => sendDetail(reply, 404, `Not found: ${request.method} ${request.url.split('?')[0]}`));

  const logServerError = ({ error, req }: { error: { code: string; cause?: unknown }; req: FastifyRequest }) => {
    if (error.code === 'INTERNAL_SERVER_ERROR') req.log.error({ err: error.cause ?? error }, 'procedure failed');
  };

  await app.register(fastifyTRPCPlugin, {
    prefix: '/trpc',
    trpcOptions: {
      router: appRouter,
      createContext: ({ info }: CreateFastifyContextOptions): Context => ({
        store,
        transport: 'trpc',
        signal: AbortSignal.any([info.signal, shutdown.signal]),
      }),
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
    const defaultJsonParser = api.getDefaultJsonParser('error', 'error');
    api.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
      if (body === '') return done(null, {});
      defaultJsonParser(request, body as string, done);
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
      createContext: ({ info }: { info: { signal: AbortSignal } }): Context => ({
        store,
        transport: 'rest',
        signal: AbortSignal.any([info.signal, shutdown.signal]),
      }),
      onError: logServerError,
      responseMeta: ({ ctx, paths, errors }: { ctx?: Context; paths?: readonly string[]; errors: readonly TRPCError[] }) => {
        const [error] = errors;
        if (error) return { status: httpStatusOf(error) };
        const status = ctx?.responseStatus ?? (paths?.[0] ? procedureMeta.get(paths[0])?.successStatus : undefined);
        return status ? { status } : {};
      },
    });
  });

  await registerDocs(app);

  app.get('/healthz', () => ({ status: 'ok' }));

  return app;
}
