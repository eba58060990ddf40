/**
 * A fetch for the worker runtime's calls, on node:http(s) with keep-alive connections. The
 * worker makes one call per turn for many tasks, and with the global fetch (undici's, with its web
 * streams) half of a worker process's CPU went into the fetch machinery itself; this one does
 * only what the tRPC links ask of it: a method, headers, a string body and a signal, answered
 * with the status, headers and the body as text or JSON.
 */
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';

/** The response as the links read it. */
function toResponse(res: IncomingMessage, text: string): Response {
  const status = res.statusCode ?? 0;
  let headers: Headers | undefined;
  return {
    ok: status >= 200 && status < 300,
    status,
    statusText: res.statusMessage ?? '',
    url: '',
    redirected: false,
    type: 'basic',
    bodyUsed: true,
    get headers() {
      headers ??= new Headers(Object.entries(res.headers).flatMap(([name, value]) => (value === undefined ? [] : [[name, String(value)] as [string, string]])));
      return headers;
    },
    text: async () => text,
    json: async () => JSON.parse(text) as unknown,
  } as Response;
}

/** A fetch over keep-alive connections, for Node.js (see the module comment). */
export function createNodeFetch(): typeof fetch {
  const agents = { http: new HttpAgent({ keepAlive: true }), https: new HttpsAgent({ keepAlive: true }) };
  const send = (url: URL, init: RequestInit, retried: boolean): Promise<Response> =>
    new Promise((resolve, reject) => {
      const secure = url.protocol === 'https:';
      const body = typeof init.body === 'string' ? Buffer.from(init.body) : undefined;
      const headers: Record<string, string> = { ...(init.headers as Record<string, string> | undefined) };
      if (body) headers['content-length'] = String(body.length);
      const request = (secure ? httpsRequest : httpRequest)(
        url,
        { method: init.method ?? 'GET', headers, agent: secure ? agents.https : agents.http, ...(init.signal ? { signal: init.signal } : {}) },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () => resolve(toResponse(res, Buffer.concat(chunks).toString('utf8'))));
          res.on('error', reject);
        },
      );
      request.on('error', (error: NodeJS.ErrnoException) => {
        // A kept-alive connection the server closed just as it was reused: the request never
        // reached the server, so it is sent once more on a new connection (as Node's docs advise).
        if (request.reusedSocket && error.code === 'ECONNRESET' && !retried) resolve(send(url, init, true));
        else reject(error);
      });
      request.end(body);
    });
  return ((input: string | URL | Request, init: RequestInit = {}) => send(new URL(String(input)), init, false)) as typeof fetch;
}
