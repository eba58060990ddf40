import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore, SqliteTaskStore, type TaskStore } from '@prismq/db';
import { createTestDatabase } from '@prismq/db/testing/postgres-server';
import type { FastifyInstance } from 'fastify';
import { buildApp, type AppOptions } from './app.js';
import { readResponse, type TestResponse } from './process-testing.js';

export type { TestResponse };

/**
 * The engine behind the test servers of this run: SQLite, or PostgreSQL when
 * PRISMQ_TEST_ENGINE=postgres (CI runs the HTTP tests once with each; see .ci/run).
 */
export const testEngine: 'sqlite' | 'postgres' = process.env.PRISMQ_TEST_ENGINE === 'postgres' ? 'postgres' : 'sqlite';

export interface TestServer {
  /** The server's origin, e.g. `http://127.0.0.1:43125`. */
  url: string;
  /** The database behind it: a SQLite file, or a PostgreSQL URL. */
  databasePath: string;
  store: TaskStore;
  /** The SQLite store, for the tests of what only SQLite does; undefined on PostgreSQL. */
  sqlite: SqliteTaskStore | undefined;
  app: FastifyInstance;
  /** Sends a request to the server and parses a JSON answer. */
  request(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<TestResponse>;
  close(): Promise<void>;
}

/**
 * A real server on an ephemeral loopback port with a temporary database (a SQLite file, or a new
 * PostgreSQL database: see testEngine), for tests. `close()` stops it and deletes the database.
 */
export async function startTestServer(options: Omit<AppOptions, 'store'> = {}): Promise<TestServer> {
  const dir = mkdtempSync(join(tmpdir(), 'prismq-test-'));
  const postgres = testEngine === 'postgres' ? await createTestDatabase() : undefined;
  const databasePath = postgres?.url ?? join(dir, 'api.db');
  const store = await openStore(databasePath);
  const app = await buildApp({ store, logLevel: 'silent', shutdownGraceMs: 200, ...options });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.server.address();
  if (!address || typeof address === 'string') throw new Error('server has no TCP address');
  const url = `http://127.0.0.1:${address.port}`;

  return {
    url,
    databasePath,
    store,
    sqlite: store instanceof SqliteTaskStore ? store : undefined,
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
      await postgres?.drop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
