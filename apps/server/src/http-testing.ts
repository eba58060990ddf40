/**
 * For the HTTP tests of the queue: a test server for the file, and the requests they repeat. What
 * the store promises whatever the transport is tested once per engine in packages/db/src/contract;
 * these tests are for what HTTP adds (statuses, `{detail}` bodies, `loc` paths, defaults, long polls).
 */
import type { Task } from '@prismq/db';
import { afterAll, beforeAll, expect } from 'vitest';
import { startTestServer, type TestResponse, type TestServer } from './testing.js';

export const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Polls `check` every `intervalMs` until it returns something other than undefined, or fails at the deadline. */
export async function until<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 5000, intervalMs = 20): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(intervalMs);
  }
}

/** The `loc` of each problem of a 422 answer. */
export const locs = (res: TestResponse): unknown[] => (res.body.detail as { loc: unknown[] }[]).map((p) => p.loc);

/** The lease fields of a claimed task, as heartbeat, complete and fail take them. */
export const lease = (task: Task) => ({ worker_id: task.worker_id, lease_id: task.lease_id });

/**
 * Starts a test server before the file's tests and stops it after them; returns the requests the
 * tests make of it. Every test makes its own task type and claims only from it, so that tests
 * never see each other's tasks.
 */
export function useQueueServer() {
  let server: TestServer | undefined;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(() => server?.close());
  let typeCounter = 0;

  const api = {
    get server(): TestServer {
      if (!server) throw new Error('the test server is not started: use it inside a test');
      return server;
    },
    request: (method: string, path: string, body?: unknown, headers?: Record<string, string>) => api.server.request(method, path, body, headers),

    /** A fresh, uniquely named task type; returns its id and name. */
    async newType(options: Record<string, unknown> = {}): Promise<{ id: number; name: string }> {
      const name = `queue_${++typeCounter}_${Date.now()}`;
      const res = await api.request('POST', '/api/task-types', { name, ...options });
      expect(res.status).toBe(201);
      return { id: res.body.id, name };
    },

    async createTask(body: Record<string, unknown>): Promise<Task> {
      const res = await api.request('POST', '/api/tasks', body);
      expect(res.status, res.text).toBe(201);
      return res.body;
    },

    claimRaw: (body: Record<string, unknown>): Promise<TestResponse> => api.request('POST', '/api/tasks/claim', body),

    async claim(body: Record<string, unknown>): Promise<Task[]> {
      const res = await api.claimRaw(body);
      expect(res.status, res.text).toBe(200);
      return res.body;
    },

    async getTask(id: number): Promise<Task> {
      const res = await api.request('GET', `/api/tasks/${id}`);
      expect(res.status).toBe(200);
      return res.body;
    },

    async tasksOfType(typeId: number): Promise<Task[]> {
      const res = await api.request('GET', `/api/tasks?task_type_id=${typeId}&limit=1000`);
      expect(res.status).toBe(200);
      return res.body;
    },
  };
  return api;
}
