import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startTestServer, testEngine, type TestServer } from './testing.js';

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server.close());

describe('GET /readyz', () => {
  it('is ready while the database answers with its migrations applied', async () => {
    const res = await server.request('GET', '/readyz');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: 'ready' });
  });

  it.skipIf(testEngine !== 'sqlite')('answers 503 with a detail when the database is unavailable', async () => {
    const s = await startTestServer();
    try {
      s.sqlite!.db.$client.close();
      const res = await s.request('GET', '/readyz');
      expect(res.status).toBe(503);
      expect(res.body.detail).toMatch(/Database/);
      expect((await s.request('GET', '/healthz')).status).toBe(200);
    } finally {
      await s.app.close();
    }
  });
});

describe('GET /metrics', () => {
  it('exposes request, task and queue-depth metrics in Prometheus text format', async () => {
    const type = (await server.request('POST', '/api/task-types', { name: 'metered', max_attempts: 1 })).body;
    for (let i = 0; i < 3; i++) await server.request('POST', '/api/tasks', { task_type_id: type.id });
    const [first, second] = (await server.request('POST', '/api/tasks/claim', { worker_id: 'w', task_type_ids: [type.id], limit: 2 })).body;
    await server.request('POST', `/api/tasks/${first.id}/complete`, { worker_id: 'w', lease_id: first.lease_id });
    await server.request('POST', `/api/tasks/${second.id}/fail`, { worker_id: 'w', lease_id: second.lease_id, error_message: 'x' });
    await server.request('GET', '/api/tasks/999999');

    const res = await server.request('GET', '/metrics');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    const text = res.text;
    expect(text).toMatch(/^prismq_tasks_total\{event="created",task_type="metered"\} 3$/m);
    expect(text).toMatch(/^prismq_tasks_total\{event="claimed",task_type="metered"\} 2$/m);
    expect(text).toMatch(/^prismq_tasks_total\{event="completed",task_type="metered"\} 1$/m);
    expect(text).toMatch(/^prismq_tasks_total\{event="failed",task_type="metered"\} 1$/m);
    expect(text).toMatch(/^prismq_queue_depth\{task_type="metered",status="pending"\} 1$/m);
    expect(text).toMatch(/^prismq_queue_depth\{task_type="metered",status="completed"\} 1$/m);
    expect(text).toMatch(/^prismq_http_requests_total\{method="POST",route="\/api\/tasks",status="201"\} \d+$/m);
    expect(text).toMatch(/^prismq_http_requests_total\{method="GET",route="\/api\/tasks\/\{id\}",status="404"\} 1$/m);
    expect(text).toMatch(/^prismq_http_request_duration_seconds_bucket\{le="0.1",method="POST",route="\/api\/tasks\/claim",status="200"\} \d+$/m);
    expect(text).toMatch(/^process_resident_memory_bytes \d+/m);
  });

  it('counts retries and expired leases', async () => {
    const type = (await server.request('POST', '/api/task-types', { name: 'flaky', retry_base_seconds: 0 })).body;
    await server.request('POST', '/api/tasks', { task_type_id: type.id });
    const [task] = (await server.request('POST', '/api/tasks/claim', { worker_id: 'w', task_type_ids: [type.id] })).body;
    await server.request('POST', `/api/tasks/${task.id}/fail`, { worker_id: 'w', lease_id: task.lease_id, error_message: 'again' });
    await server.request('POST', '/api/tasks/claim', { worker_id: 'w', task_type_ids: [type.id], lease_seconds: 1 });
    // Wait for the lease to run out, then let a claim notice it.
    const deadline = Date.now() + 5000;
    let text = '';
    while (Date.now() < deadline) {
      await server.request('POST', '/api/tasks/claim', { worker_id: 'w2', task_type_ids: [type.id], lease_seconds: 60 });
      text = (await server.request('GET', '/metrics')).text;
      if (/prismq_tasks_total\{event="lease_expired",task_type="flaky"\} 1/.test(text)) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(text).toMatch(/^prismq_tasks_total\{event="retried",task_type="flaky"\} 1$/m);
    expect(text).toMatch(/^prismq_tasks_total\{event="lease_expired",task_type="flaky"\} 1$/m);
  });

  it('keeps route labels to known routes', async () => {
    await server.request('GET', '/api/tasks/123/nothing');
    await server.request('GET', '/api/whatever/999');
    const text = (await server.request('GET', '/metrics')).text;
    expect(text).not.toMatch(/route="\/api\/whatever/);
    expect(text).not.toMatch(/route="[^"]*\d{3}/);
  });
});

describe('request ids', () => {
  it('returns the caller’s X-Request-Id, or makes one', async () => {
    const given = await server.request('GET', '/healthz', undefined, { 'x-request-id': 'req-abc-123' });
    expect(given.headers.get('x-request-id')).toBe('req-abc-123');
    const made = await server.request('GET', '/api/tasks');
    expect(made.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    const hostile = await server.request('GET', '/healthz', undefined, { 'x-request-id': 'a b\tc'.repeat(50) });
    expect(hostile.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });
});

describe('limits', () => {
  it('answers bodies over BODY_LIMIT with 413 and a detail', async () => {
    const s = await startTestServer({ bodyLimit: 2048 });
    try {
      const res = await s.request('POST', '/api/task-types', { name: 'x', description: 'y'.repeat(4000) });
      expect(res.status).toBe(413);
      expect(res.body.detail).toContain('2048');
      expect((await s.request('POST', '/api/task-types', { name: 'small' })).status).toBe(201);
    } finally {
      await s.close();
    }
  });

  it('caps the claims that wait at once with 429', async () => {
    const s = await startTestServer({ maxLongPolls: 2 });
    try {
      const type = (await s.request('POST', '/api/task-types', { name: 'capped' })).body;
      const waiting = [1, 2].map((i) => s.request('POST', '/api/tasks/claim', { worker_id: `w${i}`, task_type_ids: [type.id], wait_seconds: 5 }));
      // Once both are waiting (the gauge says so), a third gets 429, and a claim without waiting still works.
      await vi.waitFor(async () => expect((await s.request('GET', '/metrics')).text).toMatch(/^prismq_claims_waiting 2$/m), { timeout: 5000 });
      const third = await s.request('POST', '/api/tasks/claim', { worker_id: 'w3', task_type_ids: [type.id], wait_seconds: 5 });
      expect(third.status).toBe(429);
      expect(third.body.detail).toMatch(/Too many claims are waiting/);
      expect((await s.request('POST', '/api/tasks/claim', { worker_id: 'w4', task_type_ids: [type.id] })).status).toBe(200);
      await s.request('POST', '/api/tasks', { task_type_id: type.id });
      await Promise.all(waiting);
    } finally {
      await s.close();
    }
  });

  it('rejects a body that is not valid UTF-8 instead of storing replacement characters', async () => {
    const response = await fetch(`${server.url}/api/task-types`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: Buffer.from([0x7b, 0x22, 0x6e, 0x61, 0x6d, 0x65, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d]), // {"name":"\xff\xfe"}
    });
    expect(response.status).toBe(422);
    expect(((await response.json()) as { detail: unknown[] }).detail[0]).toMatchObject({ type: 'json_invalid', msg: expect.stringContaining('UTF-8') });
  });

  it('rejects oversized fields with 422 naming them', async () => {
    const res = await server.request('POST', '/api/task-types', { name: 'n'.repeat(300) });
    expect(res.status).toBe(422);
    expect(res.body.detail[0].loc).toEqual(['body', 'name']);
    const type = (await server.request('POST', '/api/task-types', { name: 'big_fields' })).body;
    const big = { blob: 'x'.repeat(300 * 1024) };
    const tooBig = await server.request('POST', '/api/tasks', { task_type_id: type.id, metadata: big });
    expect(tooBig.status).toBe(422);
    expect(tooBig.body.detail[0]).toMatchObject({ loc: ['body', 'metadata'], msg: 'must be at most 256 KiB as JSON' });
  });
});

describe('CORS', () => {
  it('is off unless CORS_ORIGINS lists origins', async () => {
    const res = await server.request('GET', '/api/tasks', undefined, { origin: 'https://app.example.com' });
    expect(res.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('allows exactly the listed origins', async () => {
    const s = await startTestServer({ corsOrigins: ['https://app.example.com'] });
    try {
      const allowed = await s.request('OPTIONS', '/api/tasks', undefined, {
        origin: 'https://app.example.com',
        'access-control-request-method': 'POST',
      });
      expect(allowed.headers.get('access-control-allow-origin')).toBe('https://app.example.com');
      const other = await s.request('GET', '/api/tasks', undefined, { origin: 'https://evil.example.com' });
      expect(other.headers.get('access-control-allow-origin')).toBeNull();
    } finally {
      await s.close();
    }
  });
});

describe('the API reference page', () => {
  it('is served with security headers', async () => {
    const res = await server.request('GET', '/docs');
    expect(res.headers.get('content-security-policy')).toMatch(/default-src 'self'/);
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('x-frame-options')).toBe('DENY');
  });
});

describe('retention', () => {
  it.skipIf(testEngine !== 'sqlite')('deletes finished tasks older than the cut-off, in batches, and nothing else', async () => {
    const type = (await server.request('POST', '/api/task-types', { name: 'retained' })).body;
    const ids: number[] = [];
    for (let i = 0; i < 5; i++) ids.push((await server.request('POST', '/api/tasks', { task_type_id: type.id })).body.id);
    for (const id of ids.slice(0, 3)) await server.request('PUT', `/api/tasks/${id}`, { status: 'completed' });
    const old = '2000-01-01T00:00:00.000Z';
    server.sqlite!.db.$client.prepare(`update task_list set completed_at = ? where id in (${ids.slice(0, 2).join(',')})`).run(old);

    const cutoff = '2001-01-01T00:00:00.000Z';
    expect(await server.store.deleteFinishedTasks(cutoff, 1)).toBe(1);
    expect(await server.store.deleteFinishedTasks(cutoff, 500)).toBe(1);
    expect(await server.store.deleteFinishedTasks(cutoff, 500)).toBe(0);
    const left = await Promise.all(ids.map((id) => server.request('GET', `/api/tasks/${id}`)));
    expect(left.map((r) => r.status)).toEqual([404, 404, 200, 200, 200]);
  });
});
