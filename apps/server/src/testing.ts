import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteTaskStore } from '@prismq/db';
import type { FastifyInstance } from 'fastify';
import { buildApp, type AppOptions } from './app.js';

export interface TestServer {
  /** The server's origin, e.g. `http://127.0.0.1:43125`. */
  url: string;
  /** The SQLite file behind it. */
  databasePath: string;
  store: SqliteTaskStore;
  app: FastifyInstance;
  /** Sends a request to the server and parses a JSON answer. */
  request(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<TestResponse>;
  close(): Promise<void>;
}

export interface TestResponse {
  status: number;
  headers: Headers;
  text: string;
  /** The body parsed as JSON, or undefined when it is empty or not JSON. */
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any -- tests inspect arbitrary JSON
}

/** Reads a response whole, parsing its body as JSON when it is JSON. */
export async function readResponse(response: Response): Promise<TestResponse> {
  const text = await response.text();
  let body: unknown;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = undefined;
  }
  return { status: response.status, headers: response.headers, text, body };
}

/**
 * A real server on an ephemeral loopback port with a temporary SQLite database, for tests.
 * `close()` stops it and deletes the database.
 */
export async function startTestServer(options: Omit<AppOptions, 'store'> = {}): Promise<TestServer> {
  const dir = mkdtempSync(join(tmpdir(), 'prismq-test-'));
  const databasePath = join(dir, 'api.db');
  const store = new SqliteTaskStore(databasePath);
  const app = await buildApp({ store, logLevel: 'silent', shutdownGraceMs: 200, ...options });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.server.address();
  if (!address || typeof address === 'string') throw new Error('server has no TCP address');
  const url = `http://127.0.0.1:${address.port}`;

  return {
    url,
    databasePath,
    store,
    app,
    async request(method, path, body, headers = {}) {
      const init: RequestInit = { method, headers: { ...headers } };
      if (body !== undefined) {
        init.body = typeof body === 'string' ? body : JSON.stringify(body);
        (init.headers as Record<string, string>)['content-type'] ??= 'application/json';
      }
      return readResponse(await fetch(url + path, init));
    },
    async close() {
      await app.close();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
