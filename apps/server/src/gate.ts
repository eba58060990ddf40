/**
 * What every request passes before its body is read: the token check, so that a request that will
 * be refused costs almost nothing, and the body-memory budget, so that bodies in flight cannot
 * take unbounded memory. Also the one way errors are answered outside a procedure, in the shape
 * of the door the request came in by (REST `{"detail": …}` or tRPC's error).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { httpStatusOf, procedureMeta, refusal, trpcErrorBody, type Access, type Auth, type Detail } from '@prismq/api';

declare module 'fastify' {
  interface FastifyRequest {
    /** Who is calling, for requests to /api and /trpc: set before the body is read. */
    auth: Auth | undefined;
  }
}

const isTrpc = (url: string) => url.startsWith('/trpc/');
const isApi = (url: string) => isTrpc(url) || (url.startsWith('/api/') && !url.startsWith('/api/openapi.json'));

/** Sends an error as the door the request came in by expects it: tRPC's shape on /trpc, else `{"detail": ...}`. */
export function sendError(request: FastifyRequest, reply: FastifyReply, status: number, detail: Detail) {
  reply.code(status).type('application/json; charset=utf-8');
  if (!isTrpc(request.url)) return reply.send({ detail });
  const procedures = safeDecode(request.url.slice('/trpc/'.length).split('?')[0]!);
  const batch = (request.query as Record<string, unknown> | undefined)?.batch === '1' || /[?&]batch=1(&|$)/.test(request.url);
  return reply.send(trpcErrorBody(procedures, batch, status, detail));
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/** REST routes and what their procedures do, most specific first, to know a request's access before routing it. */
const restRoutes = [...procedureMeta]
  .flatMap(([, meta]) => {
    if (!meta.openapi) return [];
    const params = (meta.openapi.path.match(/\{\w+\}/g) ?? []).length;
    const pattern = new RegExp(`^/api${meta.openapi.path.replace(/\{\w+\}/g, '[^/]+')}/?$`);
    return [{ method: meta.openapi.method, pattern, params, access: meta.access ?? 'admin' }];
  })
  .sort((a, b) => a.params - b.params);

/** What the procedures a request calls do; empty when it names none we know (it will answer 404). */
function accessesOf(method: string, url: string): Access[] {
  const path = url.split('?')[0]!;
  if (isTrpc(path)) {
    return safeDecode(path.slice('/trpc/'.length))
      .split(',')
      .flatMap((name) => {
        const meta = procedureMeta.get(name);
        return meta ? [meta.access ?? 'admin'] : [];
      });
  }
  const route = restRoutes.find((r) => r.method === method && r.pattern.test(path));
  return route ? [route.access] : [];
}

const hasBody = (request: FastifyRequest) =>
  request.headers['transfer-encoding'] !== undefined || Number(request.headers['content-length'] ?? 0) > 0;

/** Counts the request-body bytes held in memory at once. */
class BodyBudget {
  private used = 0;
  constructor(readonly limit: number) {}
  take(bytes: number): boolean {
    if (this.used + bytes > this.limit) return false;
    this.used += bytes;
    return true;
  }
  give(bytes: number): void {
    this.used -= bytes;
  }
}

const reserved = Symbol('body bytes reserved');

export interface GateOptions {
  authenticate: (authorization: string | undefined) => Promise<Auth>;
  /** The largest body one request may have. */
  bodyLimit: number;
  /** Body bytes in memory at once across all requests. */
  bodyMemoryLimit: number;
}

export function registerGate(app: FastifyInstance, { authenticate, bodyLimit, bodyMemoryLimit }: GateOptions): void {
  const budget = new BodyBudget(bodyMemoryLimit);
  app.decorateRequest('auth', undefined);

  app.addHook('onRequest', async (request, reply) => {
    if (request.method === 'OPTIONS') return; // CORS preflight
    const body = hasBody(request);
    // A refused request's body is never read: its connection closes after the answer.
    const refuse = (status: number, detail: string) => {
      if (body) reply.header('connection', 'close');
      return sendError(request, reply, status, detail);
    };

    if (isApi(request.url)) {
      const auth = (request.auth = await authenticate(request.headers.authorization));
      const accesses = accessesOf(request.method, request.url);
      // Refused here only when every call would be: a batch with one allowed call goes on, and
      // each call is checked again by its procedure.
      const refusals = accesses.length ? accesses.map((access) => refusal(auth, access)) : [refusal(auth, 'read')];
      const [first] = refusals;
      if (first && refusals.every(Boolean)) {
        const status = httpStatusOf(first);
        if (status === 401) reply.header('www-authenticate', 'Bearer');
        return refuse(status, first.message);
      }
    }

    if (!body) return;
    // Larger than the body limit: Fastify answers 413 without reading it.
    const length = Number(request.headers['content-length'] ?? bodyLimit);
    const bytes = Math.min(Number.isFinite(length) ? length : bodyLimit, bodyLimit);
    if (!budget.take(bytes)) {
      reply.header('retry-after', '1');
      return refuse(503, 'The server is receiving too many request bodies at once; retry shortly');
    }
    let held = bytes;
    const release = () => {
      budget.give(held);
      held = 0;
    };
    (request as unknown as Record<symbol, () => void>)[reserved] = release;
    reply.raw.once('close', release);
  });

  // Once parsed, the raw body is garbage: its bytes go back to the budget.
  app.addHook('preValidation', async (request) => {
    (request as unknown as Record<symbol, (() => void) | undefined>)[reserved]?.();
  });
}
