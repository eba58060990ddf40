/**
 * For the tests: the test file's server (started once before its tests, stopped after them), a
 * client of it, and the workers a test starts, stopped after each test.
 */
import { startTestServer, type TestServer } from '@prismq/server/testing';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { createPrismqClient, type PrismqClient } from './index.js';
import type { Worker } from './worker.js';

export function useServerAndWorkers(): { readonly server: TestServer; readonly client: PrismqClient; readonly workers: Worker[] } {
  const state = { workers: [] as Worker[] } as { server: TestServer; client: PrismqClient; workers: Worker[] };
  beforeAll(async () => {
    state.server = await startTestServer();
    state.client = createPrismqClient({ url: state.server.url });
  });
  afterEach(async () => {
    await Promise.all(state.workers.splice(0).map((w) => w.stop()));
  });
  afterAll(() => state.server?.close());
  return state;
}
