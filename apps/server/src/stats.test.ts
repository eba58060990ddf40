import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startTestServer, type TestServer } from './testing.js';

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server.close());

describe('GET /api/stats', () => {
  it('shows each type’s counts, oldest pending task, throughput and percentiles, the same over REST and tRPC', async () => {
    const type = (await server.request('POST', '/api/task-types', { name: 'report', max_attempts: 1 })).body;
    for (let i = 0; i < 3; i++) expect((await server.request('POST', '/api/tasks', { task_type_id: type.id, parameters: { i } })).status).toBe(201);
    const claimed = (await server.request('POST', '/api/tasks/claim', { worker_id: 'w1', task_type_ids: [type.id], limit: 2 })).body;
    expect(claimed).toHaveLength(2);
    const [done, broken] = claimed;
    expect((await server.request('POST', `/api/tasks/${done.id}/complete`, { worker_id: 'w1', lease_id: done.lease_id, result: 1 })).status).toBe(200);
    expect(
      (await server.request('POST', `/api/tasks/${broken.id}/fail`, { worker_id: 'w1', lease_id: broken.lease_id, error_message: 'no disk' })).status,
    ).toBe(200);

    // On PostgreSQL a change is folded once the transactions older than it have ended: poll.
    const stats = await vi.waitFor(
      async () => {
        const res = await server.request('GET', '/api/stats');
        expect(res.status).toBe(200);
        expect(res.body.types.find((t: { task_type: string }) => t.task_type === 'report')?.last_hour).toMatchObject({ completed: 1, failed: 1 });
        return res.body;
      },
      { timeout: 10_000 },
    );
    const report = stats.types.find((t: { task_type: string }) => t.task_type === 'report');
    expect(report).toMatchObject({
      task_type_id: type.id,
      counts: { pending: 1, running: 0, completed: 1, failed: 1, cancelled: 0 },
      oldest_pending_age_seconds: expect.any(Number),
      last_hour: { completed: 1, failed: 1, retried: 0, wait_ms: { p50: expect.any(Number), p95: expect.any(Number) } },
    });
    expect(report.last_hour.run_ms.p95).toBeGreaterThanOrEqual(report.last_hour.run_ms.p50);
    expect(stats.per_minute).toHaveLength(60);
    expect(stats.per_hour).toHaveLength(24);
    expect(stats.per_minute.reduce((n: number, minute: { completed: number }) => n + minute.completed, 0)).toBe(1);

    const viaTrpc = await server.request('GET', '/trpc/stats.get');
    expect(viaTrpc.status).toBe(200);
    expect(viaTrpc.body.result.data.types.find((t: { task_type: string }) => t.task_type === 'report').counts).toEqual(report.counts);
  });

  it('needs a token that may read, once tokens exist', async () => {
    const secured = await startTestServer({ auth: 'on' });
    try {
      const { token } = await secured.store.createToken('reader', ['read']);
      expect((await secured.request('GET', '/api/stats')).status).toBe(401);
      expect((await secured.request('GET', '/api/stats', undefined, { authorization: `Bearer ${token}` })).status).toBe(200);
    } finally {
      await secured.close();
    }
  });
});
