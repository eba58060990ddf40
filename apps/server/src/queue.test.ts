/**
 * The queue over real HTTP: claiming under a lease, ordering, filters, scheduling, lease expiry,
 * retries with backoff, idempotent and batch creates, long polling, cancel and retry, parameter
 * validation and concurrent claims. Every test makes its own task type and claims only from it,
 * so tests never see each other's tasks.
 */
import type { Task } from '@prismq/db';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startTestServer, type TestResponse, type TestServer } from './testing.js';

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server.close());

const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;

/** A task as the API returns it. */
type WireTask = Task;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Polls `check` every `intervalMs` until it returns something other than undefined, or fails at the deadline. */
async function until<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 5000, intervalMs = 20): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(intervalMs);
  }
}

let typeCounter = 0;
/** A fresh, uniquely named task type; returns its id and name. */
async function newType(options: Record<string, unknown> = {}): Promise<{ id: number; name: string }> {
  const name = `queue_${++typeCounter}_${Date.now()}`;
  const res = await server.request('POST', '/api/task-types', { name, ...options });
  expect(res.status).toBe(201);
  return { id: res.body.id, name };
}

async function createTask(body: Record<string, unknown>): Promise<WireTask> {
  const res = await server.request('POST', '/api/tasks', body);
  expect(res.status, res.text).toBe(201);
  return res.body;
}

function claimRaw(body: Record<string, unknown>): Promise<TestResponse> {
  return server.request('POST', '/api/tasks/claim', body);
}

async function claim(body: Record<string, unknown>): Promise<WireTask[]> {
  const res = await claimRaw(body);
  expect(res.status, res.text).toBe(200);
  return res.body;
}

async function getTask(id: number): Promise<WireTask> {
  const res = await server.request('GET', `/api/tasks/${id}`);
  expect(res.status).toBe(200);
  return res.body;
}

async function tasksOfType(typeId: number): Promise<WireTask[]> {
  const res = await server.request('GET', `/api/tasks?task_type_id=${typeId}&limit=1000`);
  expect(res.status).toBe(200);
  return res.body;
}

const lease = (task: WireTask) => ({ worker_id: task.worker_id, lease_id: task.lease_id });

/** Waits (by polling the clock) until the task's lease has run out. */
async function leaseExpired(task: WireTask): Promise<void> {
  const expiresAt = Date.parse(task.lease_expires_at!);
  await until('the lease to expire', async () => (Date.now() > expiresAt + 5 ? true : undefined), 5000, 25);
}

/** Claims from one type until a task comes back (polling, without long-poll), then returns it. */
function claimWhenDue(typeId: number, workerId: string, extra: Record<string, unknown> = {}): Promise<WireTask> {
  return until(`a claimable task of type ${typeId}`, async () => {
    const [task] = await claim({ worker_id: workerId, task_type_ids: [typeId], ...extra });
    return task;
  });
}

const locs = (res: TestResponse): unknown[] => (res.body.detail as { loc: unknown[] }[]).map((p) => p.loc);

describe('claim order', () => {
  it('hands out tasks by priority ascending, then in creation order', async () => {
    const type = await newType();
    const priorities = [5, 1, 5, 3, 1, 1000, 3];
    const created: WireTask[] = [];
    for (const priority of priorities) created.push(await createTask({ task_type_id: type.id, priority }));
    const expected = created
      .map((task, index) => ({ task, index }))
      .sort((a, b) => a.task.priority - b.task.priority || a.index - b.index)
      .map(({ task }) => task.id);

    const claimed: number[] = [];
    for (let i = 0; i < priorities.length; i++) {
      const tasks = await claim({ worker_id: 'w-order', task_type_ids: [type.id] });
      expect(tasks).toHaveLength(1);
      claimed.push(tasks[0]!.id);
    }
    expect(claimed).toEqual(expected);
    expect(await claim({ worker_id: 'w-order', task_type_ids: [type.id] })).toEqual([]);
  });

  it('returns a multi-task claim in the same order', async () => {
    const type = await newType();
    const a = await createTask({ task_type_id: type.id, priority: 50 });
    const b = await createTask({ task_type_id: type.id, priority: 10 });
    const c = await createTask({ task_type_id: type.id, priority: 50 });
    const d = await createTask({ task_type_id: type.id, priority: 10 });
    const tasks = await claim({ worker_id: 'w-order-many', task_type_ids: [type.id], limit: 10 });
    expect(tasks.map((t) => t.id)).toEqual([b.id, d.id, a.id, c.id]);
  });
  it('breaks priority ties by run_at before id', async () => {
    const type = await newType();
    const now = await createTask({ task_type_id: type.id, priority: 10 });
    const older = await createTask({ task_type_id: type.id, priority: 10, run_at: '2020-01-01T00:00:00Z' });
    const oldest = await createTask({ task_type_id: type.id, priority: 10, run_at: '2019-01-01T00:00:00Z' });
    const urgent = await createTask({ task_type_id: type.id, priority: 9 });
    const tasks = await claim({ worker_id: 'w-order-runat', task_type_ids: [type.id], limit: 10 });
    expect(tasks.map((t) => t.id)).toEqual([urgent.id, oldest.id, older.id, now.id]);
  });
});

describe('claimed tasks', () => {
  it('are running with attempts 1, the worker, a lease id and an expiry of now + lease_seconds', async () => {
    const type = await newType();
    const first = await createTask({ task_type_id: type.id });
    const second = await createTask({ task_type_id: type.id });

    const before = Date.now();
    const [claimed] = await claim({ worker_id: 'worker-fields', task_type_ids: [type.id], lease_seconds: 30 });
    const after = Date.now();
    expect(claimed).toMatchObject({
      id: first.id,
      status: 'running',
      attempts: 1,
      worker_id: 'worker-fields',
      lease_id: expect.any(String),
      lease_expires_at: expect.stringMatching(ISO_UTC),
      started_at: expect.stringMatching(ISO_UTC),
    });
    expect(claimed!.lease_id!.length).toBeGreaterThan(0);
    const expires = Date.parse(claimed!.lease_expires_at!);
    expect(expires).toBeGreaterThanOrEqual(before + 30_000 - 50);
    expect(expires).toBeLessThanOrEqual(after + 30_000 + 50);
    // The stored task says the same.
    expect(await getTask(first.id)).toMatchObject({ status: 'running', attempts: 1, lease_id: claimed!.lease_id });

    const [next] = await claim({ worker_id: 'worker-fields', task_type_ids: [type.id] });
    expect(next!.id).toBe(second.id);
    expect(next!.lease_id).toEqual(expect.any(String));
    expect(next!.lease_id).not.toBe(claimed!.lease_id);
    // Default lease: 60 s.
    expect(Date.parse(next!.lease_expires_at!) - Date.now()).toBeGreaterThan(55_000);
    expect(Date.parse(next!.lease_expires_at!) - Date.now()).toBeLessThanOrEqual(60_000);
  });

  it('can be heartbeated to extend the lease and completed with a result', async () => {
    const type = await newType();
    const task = await createTask({ task_type_id: type.id });
    const [claimed] = await claim({ worker_id: 'w-hb', task_type_ids: [type.id], lease_seconds: 5 });
    const beat = await server.request('POST', `/api/tasks/${task.id}/heartbeat`, { ...lease(claimed!), lease_seconds: 120 });
    expect(beat.status).toBe(200);
    expect(Date.parse(beat.body.lease_expires_at) - Date.now()).toBeGreaterThan(100_000);
    expect(beat.body).toMatchObject({ status: 'running', lease_id: claimed!.lease_id });

    const done = await server.request('POST', `/api/tasks/${task.id}/complete`, { ...lease(claimed!), result: { rows: 3 } });
    expect(done.status).toBe(200);
    expect(done.body).toMatchObject({ status: 'completed', result: { rows: 3 }, completed_at: expect.stringMatching(ISO_UTC) });
    expect(done.body.lease_expires_at).toBeNull();
    // Finished: the lease is gone.
    const again = await server.request('POST', `/api/tasks/${task.id}/complete`, lease(claimed!));
    expect(again.status).toBe(409);
    expect(again.body.detail).toEqual(expect.any(String));
  });
});

describe('claim filters', () => {
  it('takes only the types named by id or by name, never inactive ones, and at most limit', async () => {
    const a = await newType();
    const b = await newType();
    const c = await newType();
    const ofA: number[] = [];
    const ofB: number[] = [];
    for (let i = 0; i < 5; i++) ofA.push((await createTask({ task_type_id: a.id })).id);
    for (let i = 0; i < 3; i++) ofB.push((await createTask({ task_type_id: b.id })).id);
    const ofC = await createTask({ task_type_id: c.id });
    expect((await server.request('DELETE', `/api/task-types/${c.id}`)).status).toBe(204);

    // limit
    const two = await claim({ worker_id: 'w-filter', task_type_ids: [a.id], limit: 2 });
    expect(two.map((t) => t.id)).toEqual(ofA.slice(0, 2));
    // by id: only type A, even with a large limit
    const restA = await claim({ worker_id: 'w-filter', task_type_ids: [a.id], limit: 100 });
    expect(restA.map((t) => t.id)).toEqual(ofA.slice(2));
    expect(restA.every((t) => t.task_type_id === a.id)).toBe(true);
    // by name: only type B
    const byName = await claim({ worker_id: 'w-filter', task_types: [b.name], limit: 100 });
    expect(byName.map((t) => t.id)).toEqual(ofB);
    // inactive type: nothing, by id or by name
    expect(await claim({ worker_id: 'w-filter', task_type_ids: [c.id], limit: 100 })).toEqual([]);
    expect(await claim({ worker_id: 'w-filter', task_types: [c.name], limit: 100 })).toEqual([]);
    expect((await getTask(ofC.id)).status).toBe('pending');
    // unknown names and ids: nothing
    expect(await claim({ worker_id: 'w-filter', task_types: ['no_such_type_xyz'] })).toEqual([]);
    expect(await claim({ worker_id: 'w-filter', task_type_ids: [987654] })).toEqual([]);

    // Re-activated, its task is claimable again.
    expect((await server.request('PUT', `/api/task-types/${c.id}`, { is_active: true })).status).toBe(200);
    const revived = await claim({ worker_id: 'w-filter', task_types: [c.name] });
    expect(revived.map((t) => t.id)).toEqual([ofC.id]);
  });

  it('takes either list when both task_type_ids and task_types are given', async () => {
    const a = await newType();
    const b = await newType();
    const other = await newType();
    const ta = await createTask({ task_type_id: a.id, priority: 2 });
    const tb = await createTask({ task_type_id: b.id, priority: 1 });
    await createTask({ task_type_id: other.id, priority: 1 });
    const tasks = await claim({ worker_id: 'w-both', task_type_ids: [a.id], task_types: [b.name], limit: 10 });
    expect(tasks.map((t) => t.id)).toEqual([tb.id, ta.id]);
  });
});

describe('scheduled tasks', () => {
  it('does not claim a task before its run_at or delay_seconds, and claims it once due', async () => {
    const type = await newType();
    const runAt = new Date(Date.now() + 1000).toISOString();
    const atTask = await createTask({ task_type_id: type.id, run_at: runAt });
    expect(atTask.run_at).toBe(runAt);
    const delayed = await createTask({ task_type_id: type.id, delay_seconds: 1, priority: 200 });
    const createdAt = Date.parse((delayed as unknown as { created_at: string }).created_at);
    expect(Math.abs(Date.parse(delayed.run_at) - (createdAt + 1000))).toBeLessThanOrEqual(5);

    expect(await claim({ worker_id: 'w-sched', task_type_ids: [type.id], limit: 10 })).toEqual([]);

    const first = await claimWhenDue(type.id, 'w-sched');
    expect(first.id).toBe(atTask.id);
    expect(Date.now()).toBeGreaterThanOrEqual(Date.parse(runAt));
    expect(Date.parse((first as unknown as { started_at: string }).started_at)).toBeGreaterThanOrEqual(Date.parse(runAt));

    const second = await claimWhenDue(type.id, 'w-sched');
    expect(second.id).toBe(delayed.id);
    expect(Date.parse((second as unknown as { started_at: string }).started_at)).toBeGreaterThanOrEqual(
      Date.parse(delayed.run_at),
    );
  });

  it('stores a run_at with an offset in UTC and rejects run_at together with delay_seconds', async () => {
    const type = await newType();
    const task = await createTask({ task_type_id: type.id, run_at: '2030-01-01T12:00:00+02:00' });
    expect(task.run_at).toBe('2030-01-01T10:00:00.000Z');
    expect(await claim({ worker_id: 'w-sched2', task_type_ids: [type.id] })).toEqual([]);

    const both = await server.request('POST', '/api/tasks', {
      task_type_id: type.id,
      run_at: new Date().toISOString(),
      delay_seconds: 5,
    });
    expect(both.status).toBe(422);
    expect(locs(both)).toContainEqual(['body', 'delay_seconds']);
    expect(await tasksOfType(type.id)).toHaveLength(1);
  });
});

describe('lease expiry', () => {
  it('lets another worker take an expired lease and fences off the first worker', async () => {
    const type = await newType();
    const task = await createTask({ task_type_id: type.id });
    const [a] = await claim({ worker_id: 'worker-A', task_type_ids: [type.id], lease_seconds: 1 });
    expect(a!.id).toBe(task.id);
    // While the lease holds, nobody else gets the task.
    expect(await claim({ worker_id: 'worker-B', task_type_ids: [type.id] })).toEqual([]);

    await leaseExpired(a!);
    const b = await claimWhenDue(type.id, 'worker-B', { lease_seconds: 60 });
    expect(b).toMatchObject({ id: task.id, status: 'running', attempts: 2, worker_id: 'worker-B' });
    expect(b.lease_id).not.toBe(a!.lease_id);

    const lateComplete = await server.request('POST', `/api/tasks/${task.id}/complete`, { ...lease(a!), result: 'A' });
    expect(lateComplete.status).toBe(409);
    expect(lateComplete.body.detail).toEqual(expect.any(String));
    expect(lateComplete.body.detail.length).toBeGreaterThan(0);
    const lateBeat = await server.request('POST', `/api/tasks/${task.id}/heartbeat`, lease(a!));
    expect(lateBeat.status).toBe(409);
    const lateFail = await server.request('POST', `/api/tasks/${task.id}/fail`, { ...lease(a!), error_message: 'x' });
    expect(lateFail.status).toBe(409);
    // A's attempts did not disturb B's lease.
    expect(await getTask(task.id)).toMatchObject({ status: 'running', worker_id: 'worker-B', lease_id: b.lease_id });

    const done = await server.request('POST', `/api/tasks/${task.id}/complete`, { ...lease(b), result: { by: 'B' } });
    expect(done.status).toBe(200);
    expect(done.body).toMatchObject({ status: 'completed', result: { by: 'B' }, attempts: 2 });
  });

  it('gives the same worker a new lease on reclaim and rejects its old lease id', async () => {
    const type = await newType();
    const task = await createTask({ task_type_id: type.id });
    const [first] = await claim({ worker_id: 'worker-same', task_type_ids: [type.id], lease_seconds: 1 });
    await leaseExpired(first!);
    const second = await claimWhenDue(type.id, 'worker-same');
    expect(second).toMatchObject({ id: task.id, attempts: 2, worker_id: 'worker-same' });
    expect(second.lease_id).not.toBe(first!.lease_id);

    const oldBeat = await server.request('POST', `/api/tasks/${task.id}/heartbeat`, lease(first!));
    expect(oldBeat.status).toBe(409);
    const oldComplete = await server.request('POST', `/api/tasks/${task.id}/complete`, lease(first!));
    expect(oldComplete.status).toBe(409);
    expect(oldComplete.body.detail).toEqual(expect.any(String));

    const done = await server.request('POST', `/api/tasks/${task.id}/complete`, lease(second));
    expect(done.status).toBe(200);
    expect(done.body.status).toBe('completed');
  });

  it('rejects a heartbeat with the right lease id but another worker id', async () => {
    const type = await newType();
    const task = await createTask({ task_type_id: type.id });
    const [claimed] = await claim({ worker_id: 'worker-real', task_type_ids: [type.id] });
    const res = await server.request('POST', `/api/tasks/${task.id}/heartbeat`, {
      worker_id: 'worker-impostor',
      lease_id: claimed!.lease_id,
    });
    expect(res.status).toBe(409);
    expect((await getTask(task.id)).lease_expires_at).toBe(claimed!.lease_expires_at);
  });

  it('fails a task whose last attempt’s lease expired, on the next claim', async () => {
    const type = await newType({ max_attempts: 1 });
    const task = await createTask({ task_type_id: type.id });
    expect(task.max_attempts).toBe(1);
    const [claimed] = await claim({ worker_id: 'w-exhaust', task_type_ids: [type.id], lease_seconds: 1 });
    await leaseExpired(claimed!);

    expect(await claim({ worker_id: 'w-exhaust-2', task_type_ids: [type.id] })).toEqual([]);
    const failed = await getTask(task.id);
    expect(failed).toMatchObject({ status: 'failed', attempts: 1, completed_at: expect.stringMatching(ISO_UTC) });
    expect(failed.error_message).toMatch(/Lease expired/);
    // The late worker cannot settle it.
    expect((await server.request('POST', `/api/tasks/${task.id}/complete`, lease(claimed!))).status).toBe(409);
  });

  it('sweepExpiredLeases releases an expired task with attempts left and fails an exhausted one', async () => {
    const type = await newType({ max_attempts: 3 });
    const withAttempts = await createTask({ task_type_id: type.id, priority: 1 });
    const exhausted = await createTask({ task_type_id: type.id, priority: 2, max_attempts: 1 });
    const claimed = await claim({ worker_id: 'w-sweep', task_type_ids: [type.id], lease_seconds: 1, limit: 2 });
    expect(claimed.map((t) => t.id)).toEqual([withAttempts.id, exhausted.id]);
    await leaseExpired(claimed[1]!);

    await server.store.sweepExpiredLeases();

    const released = await getTask(withAttempts.id);
    expect(released).toMatchObject({ status: 'pending', attempts: 1, lease_expires_at: null });
    expect(released.error_message).toMatch(/Lease expired/);
    const failed = await getTask(exhausted.id);
    expect(failed).toMatchObject({ status: 'failed', attempts: 1, completed_at: expect.stringMatching(ISO_UTC) });
    expect(failed.error_message).toMatch(/Lease expired/);

    // The old lease is dead; the released task is claimable again as its second attempt.
    expect((await server.request('POST', `/api/tasks/${withAttempts.id}/complete`, lease(claimed[0]!))).status).toBe(409);
    const again = await claim({ worker_id: 'w-sweep-2', task_type_ids: [type.id], limit: 10 });
    expect(again.map((t) => [t.id, t.attempts])).toEqual([[withAttempts.id, 2]]);
  });
});

describe('retries', () => {
  it('backs off between attempts and fails for good after max_attempts', async () => {
    const base = 0.4;
    const type = await newType({ max_attempts: 3, retry_base_seconds: base, retry_max_seconds: 60 });
    const task = await createTask({ task_type_id: type.id });
    expect(task.max_attempts).toBe(3);

    let claimed = await claimWhenDue(type.id, 'w-retry');
    for (let attempt = 1; attempt <= 2; attempt++) {
      expect(claimed).toMatchObject({ id: task.id, attempts: attempt });
      const before = Date.now();
      const res = await server.request('POST', `/api/tasks/${task.id}/fail`, { ...lease(claimed), error_message: `boom ${attempt}` });
      const after = Date.now();
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ status: 'pending', attempts: attempt, error_message: `boom ${attempt}`, completed_at: null });
      expect(res.body.lease_expires_at).toBeNull();
      // Equal jitter: between half and all of base * 2^(attempt-1).
      const delayMs = base * 2 ** (attempt - 1) * 1000;
      const runAt = Date.parse(res.body.run_at);
      expect(runAt).toBeGreaterThanOrEqual(before + delayMs / 2 - 5);
      expect(runAt).toBeLessThanOrEqual(after + delayMs + 5);
      // Not claimable before run_at: a claim right away finds nothing (the shortest delay is 200 ms).
      const early = await claim({ worker_id: 'w-retry', task_type_ids: [type.id] });
      expect(early).toEqual([]);
      claimed = await claimWhenDue(type.id, 'w-retry');
      expect(Date.parse((claimed as unknown as { started_at: string }).started_at)).toBeGreaterThanOrEqual(runAt);
    }

    const last = claimed;
    expect(last.attempts).toBe(3);
    const res = await server.request('POST', `/api/tasks/${task.id}/fail`, { ...lease(last), error_message: 'final boom' });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      status: 'failed',
      attempts: 3,
      error_message: 'final boom',
      completed_at: expect.stringMatching(ISO_UTC),
      lease_expires_at: null,
    });
    expect(await claim({ worker_id: 'w-retry', task_type_ids: [type.id] })).toEqual([]);
  });

  it('caps the backoff at retry_max_seconds', async () => {
    const type = await newType({ max_attempts: 4, retry_base_seconds: 0.2, retry_max_seconds: 0.25 });
    const task = await createTask({ task_type_id: type.id });
    for (let attempt = 1; attempt <= 3; attempt++) {
      const claimed = await claimWhenDue(type.id, 'w-cap');
      expect(claimed.attempts).toBe(attempt);
      const before = Date.now();
      const res = await server.request('POST', `/api/tasks/${task.id}/fail`, { ...lease(claimed), error_message: 'again' });
      const after = Date.now();
      expect(res.body.status).toBe('pending');
      const delayMs = Math.min(250, 200 * 2 ** (attempt - 1));
      const runAt = Date.parse(res.body.run_at);
      expect(runAt).toBeGreaterThanOrEqual(before + delayMs / 2 - 5);
      expect(runAt).toBeLessThanOrEqual(after + delayMs + 5);
    }
  });

  it('fails at once with retry: false even with attempts left', async () => {
    const type = await newType({ max_attempts: 5, retry_base_seconds: 0 });
    const task = await createTask({ task_type_id: type.id });
    const [claimed] = await claim({ worker_id: 'w-noretry', task_type_ids: [type.id] });
    const res = await server.request('POST', `/api/tasks/${task.id}/fail`, {
      ...lease(claimed!),
      error_message: 'fatal',
      retry: false,
    });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ status: 'failed', attempts: 1, error_message: 'fatal', completed_at: expect.stringMatching(ISO_UTC) });
    expect(await claim({ worker_id: 'w-noretry', task_type_ids: [type.id] })).toEqual([]);
  });

  it('takes max_attempts per task over the type default', async () => {
    const type = await newType({ max_attempts: 5, retry_base_seconds: 0 });
    const task = await createTask({ task_type_id: type.id, max_attempts: 1 });
    expect(task.max_attempts).toBe(1);
    const [claimed] = await claim({ worker_id: 'w-max', task_type_ids: [type.id] });
    const res = await server.request('POST', `/api/tasks/${task.id}/fail`, { ...lease(claimed!), error_message: 'once' });
    expect(res.body).toMatchObject({ status: 'failed', attempts: 1 });
  });
});

describe('idempotent create', () => {
  it('answers 201 and then 200 with the same task; another type gets its own task', async () => {
    const type = await newType();
    const other = await newType();
    const first = await server.request('POST', '/api/tasks', { task_type_id: type.id, idempotency_key: 'order-42', priority: 7 });
    expect(first.status).toBe(201);
    expect(first.body.idempotency_key).toBe('order-42');
    const second = await server.request('POST', '/api/tasks', { task_type_id: type.id, idempotency_key: 'order-42', priority: 9 });
    expect(second.status).toBe(200);
    expect(second.body).toEqual(first.body);
    expect(await tasksOfType(type.id)).toHaveLength(1);

    const elsewhere = await server.request('POST', '/api/tasks', { task_type_id: other.id, idempotency_key: 'order-42' });
    expect(elsewhere.status).toBe(201);
    expect(elsewhere.body.id).not.toBe(first.body.id);
    expect(elsewhere.body.task_type_id).toBe(other.id);

    // Without a key, every create is a new task.
    const plain1 = await createTask({ task_type_id: type.id });
    const plain2 = await createTask({ task_type_id: type.id });
    expect(plain1.id).not.toBe(plain2.id);
    expect(await tasksOfType(type.id)).toHaveLength(3);
  });
  it('creates one task for concurrent creates with the same key', async () => {
    const type = await newType();
    const responses = await Promise.all(
      Array.from({ length: 20 }, () => server.request('POST', '/api/tasks', { task_type_id: type.id, idempotency_key: 'same' })),
    );
    expect(responses.filter((r) => r.status === 201)).toHaveLength(1);
    expect(responses.filter((r) => r.status === 200)).toHaveLength(19);
    expect(new Set(responses.map((r) => r.body.id)).size).toBe(1);
    expect(await tasksOfType(type.id)).toHaveLength(1);
  });
});

describe('retry policy input', () => {
  it('defaults a type to 3 attempts, 5 s base and 3600 s cap, and a task to its type’s attempts', async () => {
    const res = await server.request('POST', '/api/task-types', { name: `policy_default_${Date.now()}` });
    expect(res.body).toMatchObject({ max_attempts: 3, retry_base_seconds: 5, retry_max_seconds: 3600 });
    const task = await createTask({ task_type_id: res.body.id });
    expect(task).toMatchObject({ max_attempts: 3, attempts: 0, worker_id: null, lease_id: null, lease_expires_at: null });
  });

  it.each([
    [{ max_attempts: 0 }, 'max_attempts'],
    [{ max_attempts: 101 }, 'max_attempts'],
    [{ retry_base_seconds: -1 }, 'retry_base_seconds'],
    [{ retry_base_seconds: 86_401 }, 'retry_base_seconds'],
  ])('answers 422 for a task type with %j', async (patch, field) => {
    const res = await server.request('POST', '/api/task-types', { name: `policy_bad_${Date.now()}`, ...patch });
    expect(res.status).toBe(422);
    expect(locs(res)).toContainEqual(['body', field]);
  });

  it.each([
    [{ max_attempts: 0 }, 'max_attempts'],
    [{ max_attempts: 101 }, 'max_attempts'],
    [{ delay_seconds: -1 }, 'delay_seconds'],
    [{ run_at: 'tomorrow' }, 'run_at'],
    [{ idempotency_key: '' }, 'idempotency_key'],
  ])('answers 422 for a task with %j', async (patch, field) => {
    const type = await newType();
    const res = await server.request('POST', '/api/tasks', { task_type_id: type.id, ...patch });
    expect(res.status).toBe(422);
    expect(locs(res)).toContainEqual(['body', field]);
    expect(await tasksOfType(type.id)).toHaveLength(0);
  });
});

describe('POST /api/tasks/batch', () => {
  it('creates all tasks with 201, in order', async () => {
    const type = await newType();
    const res = await server.request('POST', '/api/tasks/batch', {
      tasks: [
        { task_type_id: type.id, priority: 3, parameters: { n: 0 } },
        { task_type_id: type.id, priority: 1, parameters: { n: 1 } },
        { task_type_id: type.id, parameters: { n: 2 }, delay_seconds: 60 },
      ],
    });
    expect(res.status).toBe(201);
    expect(res.body.map((t: WireTask) => t.parameters.n)).toEqual([0, 1, 2]);
    expect(res.body.map((t: WireTask) => t.status)).toEqual(['pending', 'pending', 'pending']);
    expect(res.body[1].priority).toBe(1);
    expect(res.body[0].id).toBeLessThan(res.body[1].id);
    expect(res.body[1].id).toBeLessThan(res.body[2].id);
    expect(await tasksOfType(type.id)).toHaveLength(3);
  });

  it('rejects the whole batch with 422 naming the item when one item is malformed', async () => {
    const type = await newType();
    await createTask({ task_type_id: type.id });
    const res = await server.request('POST', '/api/tasks/batch', {
      tasks: [{ task_type_id: type.id }, { task_type_id: type.id }, { task_type_id: type.id, priority: 0 }],
    });
    expect(res.status).toBe(422);
    expect(locs(res)).toContainEqual(['body', 'tasks', 2, 'priority']);
    expect(await tasksOfType(type.id)).toHaveLength(1);
  });

  it('rejects the whole batch with 422 when an item’s parameters break the schema', async () => {
    const type = await newType({
      parameters_schema: { type: 'object', properties: { n: { type: 'integer' } }, required: ['n'] },
    });
    const res = await server.request('POST', '/api/tasks/batch', {
      tasks: [
        { task_type_id: type.id, parameters: { n: 1 } },
        { task_type_id: type.id, parameters: { n: 'one' } },
        { task_type_id: type.id, parameters: { n: 3 } },
        { task_type_id: type.id, parameters: {} },
      ],
    });
    expect(res.status).toBe(422);
    const found = locs(res);
    expect(found).toContainEqual(['body', 'tasks', 1, 'parameters', 'n']);
    expect(found).toContainEqual(['body', 'tasks', 3, 'parameters', 'n']);
    expect(found.every((loc) => (loc as unknown[])[2] === 1 || (loc as unknown[])[2] === 3)).toBe(true);
    expect(await tasksOfType(type.id)).toHaveLength(0);
  });

  it('creates nothing when an item names an inactive or unknown type', async () => {
    const type = await newType();
    const retired = await newType();
    await server.request('DELETE', `/api/task-types/${retired.id}`);

    const inactive = await server.request('POST', '/api/tasks/batch', {
      tasks: [{ task_type_id: type.id }, { task_type_id: retired.id }],
    });
    expect(inactive.status).toBe(400);
    expect(inactive.body.detail).toEqual(expect.any(String));
    const unknown = await server.request('POST', '/api/tasks/batch', {
      tasks: [{ task_type_id: type.id }, { task_type_id: 987654 }],
    });
    expect(unknown.status).toBe(404);
    expect(unknown.body.detail).toEqual(expect.any(String));
    expect(await tasksOfType(type.id)).toHaveLength(0);
  });

  it('accepts 1000 tasks and rejects 1001 and an empty list', async () => {
    const type = await newType();
    const over = await server.request('POST', '/api/tasks/batch', {
      tasks: Array.from({ length: 1001 }, () => ({ task_type_id: type.id })),
    });
    expect(over.status).toBe(422);
    expect(locs(over)).toContainEqual(['body', 'tasks']);
    const empty = await server.request('POST', '/api/tasks/batch', { tasks: [] });
    expect(empty.status).toBe(422);
    expect(locs(empty)).toContainEqual(['body', 'tasks']);
    expect(await tasksOfType(type.id)).toHaveLength(0);

    const max = await server.request('POST', '/api/tasks/batch', {
      tasks: Array.from({ length: 1000 }, () => ({ task_type_id: type.id })),
    });
    expect(max.status).toBe(201);
    expect(max.body).toHaveLength(1000);
    expect(await tasksOfType(type.id)).toHaveLength(1000);
  });
});

describe('long poll', () => {
  it('wakes a waiting claim as soon as a matching task is created', async () => {
    const type = await newType();
    const latencies: number[] = [];
    const nextClaimableAt = vi.spyOn(server.store, 'nextClaimableAt');
    try {
      for (let trial = 0; trial < 5; trial++) {
        nextClaimableAt.mockClear();
        const started = Date.now();
        let claimedAt = 0;
        const waiting = claimRaw({ worker_id: `w-poll-${trial}`, task_type_ids: [type.id], wait_seconds: 10 }).then((res) => {
          claimedAt = Date.now();
          return res;
        });
        // The claim found nothing and is waiting once it has asked when the next task is due.
        await until('the claim to start waiting', async () => (nextClaimableAt.mock.calls.length > 0 ? true : undefined));
        expect(claimedAt).toBe(0);

        const created = await createTask({ task_type_id: type.id });
        const createdAt = Date.now();
        const res = await waiting;
        expect(res.status).toBe(200);
        expect(res.body.map((t: WireTask) => t.id)).toEqual([created.id]);
        expect(claimedAt - started).toBeLessThan(9000);
        latencies.push(claimedAt - createdAt);
      }
    } finally {
      nextClaimableAt.mockRestore();
    }
    const median = [...latencies].sort((a, b) => a - b)[2]!;
    expect(median, `latencies ${latencies.join(', ')} ms`).toBeLessThan(100);
  });

  it('hands tasks created together to many waiting claims, each task once, leased to its claimant', async () => {
    const type = await newType();
    const nextClaimableAt = vi.spyOn(server.store, 'nextClaimableAt');
    try {
      const waiting = Array.from({ length: 20 }, (_, i) =>
        claimRaw({ worker_id: `w-many-${i}`, task_type_ids: [type.id], limit: 1 + (i % 3), wait_seconds: 2 }),
      );
      await until('every claim to wait', async () => (nextClaimableAt.mock.calls.length >= 20 ? true : undefined));
      // A batch and single creates arrive together: they share commits with the claims they serve.
      const created = await Promise.all([
        server.request('POST', '/api/tasks/batch', { tasks: Array.from({ length: 15 }, () => ({ task_type_id: type.id })) }),
        ...Array.from({ length: 5 }, () => server.request('POST', '/api/tasks', { task_type_id: type.id })),
      ]);
      const ids = created.flatMap((res) => {
        expect(res.status).toBe(201);
        return Array.isArray(res.body) ? (res.body as WireTask[]).map((task) => task.id) : [(res.body as WireTask).id];
      });
      const answers = await Promise.all(waiting);
      const handed = answers.flatMap((res, i) => {
        expect(res.status).toBe(200);
        expect((res.body as WireTask[]).length).toBeLessThanOrEqual(1 + (i % 3));
        return (res.body as WireTask[]).map((task) => ({ id: task.id, worker: `w-many-${i}`, task }));
      });
      expect(handed.map((h) => h.id).sort((a, b) => a - b)).toEqual([...ids].sort((a, b) => a - b));
      for (const { worker, task } of handed) expect(task).toMatchObject({ status: 'running', attempts: 1, worker_id: worker });
      const stored = new Map((await tasksOfType(type.id)).map((task) => [task.id, task]));
      for (const { id, task } of handed) expect(stored.get(id)).toMatchObject({ status: 'running', worker_id: task.worker_id, lease_id: task.lease_id });
    } finally {
      nextClaimableAt.mockRestore();
    }
  });

  it('does not make idle waiting claims claim again on every create', async () => {
    const busy = await newType();
    const idle = await newType();
    const nextClaimableAt = vi.spyOn(server.store, 'nextClaimableAt');
    const claimTasks = vi.spyOn(server.store, 'claimTasks');
    try {
      const waiting = Array.from({ length: 20 }, (_, i) => claimRaw({ worker_id: `w-idle-${i}`, task_type_ids: [idle.id], wait_seconds: 2 }));
      await until('every claim to wait', async () => (nextClaimableAt.mock.calls.length >= 20 ? true : undefined));
      claimTasks.mockClear();
      for (let i = 0; i < 10; i++) await createTask({ task_type_id: busy.id });
      // Before, each create woke all 20 to claim again: 200 claims. Now none looks again.
      expect(claimTasks.mock.calls.length).toBe(0);
      const mine = await createTask({ task_type_id: idle.id });
      const answers = await Promise.all(waiting);
      expect(answers.flatMap((res) => (res.body as WireTask[]).map((task) => task.id))).toEqual([mine.id]);
    } finally {
      nextClaimableAt.mockRestore();
      claimTasks.mockRestore();
    }
  });

  it('does not hand out tasks of other types while waiting', async () => {
    const type = await newType();
    const other = await newType();
    const started = Date.now();
    const waiting = claimRaw({ worker_id: 'w-poll-other', task_type_ids: [type.id], wait_seconds: 1 });
    await createTask({ task_type_id: other.id });
    const res = await waiting;
    expect(res.status).toBe(200);
    expect(res.body).toEqual([]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    expect((await tasksOfType(other.id))[0]!.status).toBe('pending');
  });

  it('returns a scheduled task once it comes due, without waiting for the whole wait', async () => {
    const type = await newType();
    const runAt = Date.now() + 500;
    const task = await createTask({ task_type_id: type.id, run_at: new Date(runAt).toISOString() });
    const started = Date.now();
    const res = await claimRaw({ worker_id: 'w-poll-due', task_type_ids: [type.id], wait_seconds: 10 });
    const answered = Date.now();
    expect(res.status).toBe(200);
    expect(res.body.map((t: WireTask) => t.id)).toEqual([task.id]);
    expect(answered).toBeGreaterThanOrEqual(runAt);
    expect(answered - started).toBeLessThan(3000);
  });

  it('returns a task whose lease expired while it waited', async () => {
    const type = await newType();
    const task = await createTask({ task_type_id: type.id });
    const [held] = await claim({ worker_id: 'w-poll-holder', task_type_ids: [type.id], lease_seconds: 1 });
    const res = await claimRaw({ worker_id: 'w-poll-taker', task_type_ids: [type.id], wait_seconds: 10 });
    const answered = Date.now();
    expect(res.status).toBe(200);
    expect(res.body).toHaveLength(1);
    expect(res.body[0]).toMatchObject({ id: task.id, attempts: 2, worker_id: 'w-poll-taker' });
    expect(answered).toBeGreaterThanOrEqual(Date.parse(held!.lease_expires_at!));
    expect(answered - Date.parse(held!.lease_expires_at!)).toBeLessThan(3000);
  });

  it.each([
    ['a batch create', async (typeId: number) => {
      const res = await server.request('POST', '/api/tasks/batch', { tasks: [{ task_type_id: typeId }] });
      expect(res.status).toBe(201);
      return res.body[0].id as number;
    }],
    ['a retry of a cancelled task', async (typeId: number) => {
      const task = await createTask({ task_type_id: typeId });
      // Cancelled before anyone waits, so only the retry can wake the claim.
      expect((await server.request('POST', `/api/tasks/${task.id}/cancel`)).status).toBe(200);
      return task.id;
    }],
  ])('wakes a waiting claim on %s', async (what, prepare) => {
    const type = await newType();
    const isRetry = what.startsWith('a retry');
    const taskId = isRetry ? await prepare(type.id) : undefined;
    const nextClaimableAt = vi.spyOn(server.store, 'nextClaimableAt');
    try {
      const started = Date.now();
      const waiting = claimRaw({ worker_id: 'w-poll-wake', task_type_ids: [type.id], wait_seconds: 10 });
      await until('the claim to start waiting', async () => (nextClaimableAt.mock.calls.length > 0 ? true : undefined));
      let expectedId: number;
      if (isRetry) {
        expect((await server.request('POST', `/api/tasks/${taskId}/retry`)).status).toBe(200);
        expectedId = taskId!;
      } else {
        expectedId = await prepare(type.id);
      }
      const res = await waiting;
      expect(res.body.map((t: WireTask) => t.id)).toEqual([expectedId]);
      expect(Date.now() - started).toBeLessThan(3000);
    } finally {
      nextClaimableAt.mockRestore();
    }
  });

  it('stops waiting when the client goes away, so a later task is not leased to it', async () => {
    const type = await newType();
    // Counts the claims that are waiting for news: each subscribes while it waits.
    let waiting = 0;
    const subscribe = server.store.onTasksAvailable.bind(server.store);
    const onTasksAvailable = vi.spyOn(server.store, 'onTasksAvailable').mockImplementation((listener) => {
      waiting++;
      const unsubscribe = subscribe(listener);
      return () => {
        waiting--;
        unsubscribe();
      };
    });
    const nextClaimableAt = vi.spyOn(server.store, 'nextClaimableAt');
    try {
      const client = new AbortController();
      const gone = fetch(`${server.url}/api/tasks/claim`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ worker_id: 'w-gone', task_type_ids: [type.id], wait_seconds: 3 }),
        signal: client.signal,
      }).catch((error: unknown) => error);
      await until('the claim to start waiting', async () => (nextClaimableAt.mock.calls.length > 0 ? true : undefined));
      client.abort();
      expect(await gone).toMatchObject({ name: 'AbortError' });
      // Give the server up to 2 s to notice the closed connection; it should take milliseconds.
      await until('the abandoned claim to stop waiting', async () => (waiting === 0 ? true : undefined), 2000).catch(() => undefined);

      const task = await createTask({ task_type_id: type.id });
      const stored = await getTask(task.id);
      expect(stored, 'a task created after the client left was leased to it').toMatchObject({ status: 'pending', worker_id: null });
      const [claimed] = await claim({ worker_id: 'w-present', task_type_ids: [type.id] });
      expect(claimed).toMatchObject({ id: task.id, attempts: 1, worker_id: 'w-present' });
    } finally {
      onTasksAvailable.mockRestore();
      nextClaimableAt.mockRestore();
    }
  });

  it('answers [] after about wait_seconds when nothing comes', async () => {
    const type = await newType();
    const started = Date.now();
    const res = await claimRaw({ worker_id: 'w-poll-idle', task_type_ids: [type.id], wait_seconds: 1 });
    const elapsed = Date.now() - started;
    expect(res.status).toBe(200);
    expect(res.body).toEqual([]);
    expect(elapsed).toBeGreaterThanOrEqual(900);
    expect(elapsed).toBeLessThan(5000);
  });
});

describe('cancel and retry', () => {
  it('cancels a pending task, with no body and no content type', async () => {
    const type = await newType();
    const task = await createTask({ task_type_id: type.id });
    const res = await server.request('POST', `/api/tasks/${task.id}/cancel`);
    expect(res.status, res.text).toBe(200);
    expect(res.body).toMatchObject({ id: task.id, status: 'cancelled', completed_at: expect.stringMatching(ISO_UTC) });
    expect(await claim({ worker_id: 'w-cancel', task_type_ids: [type.id] })).toEqual([]);
  });

  it('cancels a running task; its worker gets 409 on heartbeat, complete and fail', async () => {
    const type = await newType();
    const task = await createTask({ task_type_id: type.id });
    const [claimed] = await claim({ worker_id: 'w-cancel-run', task_type_ids: [type.id] });
    const res = await server.request('POST', `/api/tasks/${task.id}/cancel`);
    expect(res.status).toBe(200);
    expect(res.body.status).toBe('cancelled');

    const beat = await server.request('POST', `/api/tasks/${task.id}/heartbeat`, lease(claimed!));
    expect(beat.status).toBe(409);
    expect(beat.body.detail).toEqual(expect.any(String));
    const done = await server.request('POST', `/api/tasks/${task.id}/complete`, { ...lease(claimed!), result: 1 });
    expect(done.status).toBe(409);
    const failed = await server.request('POST', `/api/tasks/${task.id}/fail`, { ...lease(claimed!), error_message: 'x' });
    expect(failed.status).toBe(409);
    expect((await getTask(task.id)).status).toBe('cancelled');
  });

  it('answers 409 when cancelling a finished task and 404 for a missing one', async () => {
    const type = await newType();
    const task = await createTask({ task_type_id: type.id });
    const [claimed] = await claim({ worker_id: 'w-cancel-done', task_type_ids: [type.id] });
    expect((await server.request('POST', `/api/tasks/${task.id}/complete`, lease(claimed!))).status).toBe(200);
    const res = await server.request('POST', `/api/tasks/${task.id}/cancel`);
    expect(res.status).toBe(409);
    expect(res.body.detail).toEqual(expect.any(String));
    expect((await getTask(task.id)).status).toBe('completed');

    const twice = await createTask({ task_type_id: type.id });
    expect((await server.request('POST', `/api/tasks/${twice.id}/cancel`)).status).toBe(200);
    expect((await server.request('POST', `/api/tasks/${twice.id}/cancel`)).status).toBe(409);

    expect((await server.request('POST', '/api/tasks/999999/cancel')).status).toBe(404);
    expect((await server.request('POST', '/api/tasks/999999/retry')).status).toBe(404);
  });

  it('retries a cancelled task back to pending with attempts 0, claimable again', async () => {
    const type = await newType();
    const task = await createTask({ task_type_id: type.id });
    const [claimed] = await claim({ worker_id: 'w-retry-c', task_type_ids: [type.id] });
    expect(claimed!.attempts).toBe(1);
    expect((await server.request('POST', `/api/tasks/${task.id}/cancel`)).status).toBe(200);

    const res = await server.request('POST', `/api/tasks/${task.id}/retry`);
    expect(res.status, res.text).toBe(200);
    expect(res.body).toMatchObject({ status: 'pending', attempts: 0, completed_at: null });
    const [again] = await claim({ worker_id: 'w-retry-c2', task_type_ids: [type.id] });
    expect(again).toMatchObject({ id: task.id, attempts: 1, worker_id: 'w-retry-c2' });
    expect(again!.lease_id).not.toBe(claimed!.lease_id);
    // The first worker's lease stays dead.
    expect((await server.request('POST', `/api/tasks/${task.id}/complete`, lease(claimed!))).status).toBe(409);
  });

  it('retries a failed task and answers 409 for a pending one', async () => {
    const type = await newType({ max_attempts: 1 });
    const task = await createTask({ task_type_id: type.id });
    const [claimed] = await claim({ worker_id: 'w-retry-f', task_type_ids: [type.id] });
    const failed = await server.request('POST', `/api/tasks/${task.id}/fail`, { ...lease(claimed!), error_message: 'no' });
    expect(failed.body.status).toBe('failed');

    const retried = await server.request('POST', `/api/tasks/${task.id}/retry`);
    expect(retried.status).toBe(200);
    expect(retried.body).toMatchObject({ status: 'pending', attempts: 0 });

    const again = await server.request('POST', `/api/tasks/${task.id}/retry`);
    expect(again.status).toBe(409);
    expect(again.body.detail).toEqual(expect.any(String));
    expect((await getTask(task.id)).status).toBe('pending');
  });

  it('answers 409 when retrying a running or completed task', async () => {
    const type = await newType();
    const task = await createTask({ task_type_id: type.id });
    const [claimed] = await claim({ worker_id: 'w-retry-r', task_type_ids: [type.id] });
    expect((await server.request('POST', `/api/tasks/${task.id}/retry`)).status).toBe(409);
    expect((await server.request('POST', `/api/tasks/${task.id}/complete`, lease(claimed!))).status).toBe(200);
    expect((await server.request('POST', `/api/tasks/${task.id}/retry`)).status).toBe(409);
  });

  it('accepts an empty JSON object as the body too', async () => {
    const type = await newType();
    const task = await createTask({ task_type_id: type.id });
    expect((await server.request('POST', `/api/tasks/${task.id}/cancel`, {})).status).toBe(200);
    expect((await server.request('POST', `/api/tasks/${task.id}/retry`, {})).status).toBe(200);
  });
});

describe('parameter validation', () => {
  const schema = {
    type: 'object',
    properties: {
      algorithm: { enum: ['kmeans', 'dbscan'] },
      dataset_path: { type: 'string' },
      k: { type: 'integer', minimum: 1 },
    },
    required: ['algorithm', 'dataset_path'],
  };

  it('answers 422 listing every violation under ["body","parameters",...]', async () => {
    const type = await newType({ parameters_schema: schema });
    const res = await server.request('POST', '/api/tasks', {
      task_type_id: type.id,
      parameters: { algorithm: 'svm', k: 0 },
    });
    expect(res.status).toBe(422);
    const found = locs(res);
    expect(found).toContainEqual(['body', 'parameters', 'dataset_path']);
    expect(found).toContainEqual(['body', 'parameters', 'algorithm']);
    expect(found).toContainEqual(['body', 'parameters', 'k']);
    for (const problem of res.body.detail) expect(problem).toMatchObject({ msg: expect.any(String), type: expect.any(String) });
    expect(await tasksOfType(type.id)).toHaveLength(0);

    const ok = await server.request('POST', '/api/tasks', {
      task_type_id: type.id,
      parameters: { algorithm: 'kmeans', dataset_path: '/data/a.csv', k: 3 },
    });
    expect(ok.status).toBe(201);
  });

  it('answers 422 for an invalid parameters_schema on create and update', async () => {
    const bad = await server.request('POST', '/api/task-types', { name: `bad_schema_${Date.now()}`, parameters_schema: { type: 'nonsense' } });
    expect(bad.status).toBe(422);
    expect(locs(bad).some((loc) => (loc as unknown[])[0] === 'body' && (loc as unknown[])[1] === 'parameters_schema')).toBe(true);

    const type = await newType({ parameters_schema: schema });
    const update = await server.request('PUT', `/api/task-types/${type.id}`, { parameters_schema: { type: 'nonsense' } });
    expect(update.status).toBe(422);
    expect(locs(update).some((loc) => (loc as unknown[])[0] === 'body' && (loc as unknown[])[1] === 'parameters_schema')).toBe(true);
    const unchanged = await server.request('GET', `/api/task-types/${type.id}`);
    expect(unchanged.body.parameters_schema).toEqual(schema);
  });

  it('validates new tasks against an updated schema', async () => {
    const type = await newType({ parameters_schema: schema });
    await createTask({ task_type_id: type.id, parameters: { algorithm: 'kmeans', dataset_path: '/d' } });
    const stricter = { ...schema, required: ['algorithm', 'dataset_path', 'k'] };
    expect((await server.request('PUT', `/api/task-types/${type.id}`, { parameters_schema: stricter })).status).toBe(200);
    const res = await server.request('POST', '/api/tasks', {
      task_type_id: type.id,
      parameters: { algorithm: 'kmeans', dataset_path: '/d' },
    });
    expect(res.status).toBe(422);
    expect(locs(res)).toContainEqual(['body', 'parameters', 'k']);
  });

  it('answers 422 for a PUT with bad parameters and leaves the task unchanged', async () => {
    const type = await newType({ parameters_schema: schema });
    const task = await createTask({ task_type_id: type.id, parameters: { algorithm: 'kmeans', dataset_path: '/d' } });
    const res = await server.request('PUT', `/api/tasks/${task.id}`, {
      parameters: { algorithm: 'nope', dataset_path: 5 },
      priority: 9,
    });
    expect(res.status).toBe(422);
    const found = locs(res);
    expect(found).toContainEqual(['body', 'parameters', 'algorithm']);
    expect(found).toContainEqual(['body', 'parameters', 'dataset_path']);
    const after = await getTask(task.id);
    expect(after).toEqual(task);

    const ok = await server.request('PUT', `/api/tasks/${task.id}`, { parameters: { algorithm: 'dbscan', dataset_path: '/e' } });
    expect(ok.status).toBe(200);
    expect(ok.body.parameters).toEqual({ algorithm: 'dbscan', dataset_path: '/e' });
  });
});

describe('claim input validation', () => {
  it.each([
    ['limit 0', { limit: 0 }, 'limit'],
    ['limit 101', { limit: 101 }, 'limit'],
    ['lease_seconds 0', { lease_seconds: 0 }, 'lease_seconds'],
    ['lease_seconds 3601', { lease_seconds: 3601 }, 'lease_seconds'],
    ['wait_seconds 31', { wait_seconds: 31 }, 'wait_seconds'],
    ['wait_seconds -1', { wait_seconds: -1 }, 'wait_seconds'],
    ['a missing worker_id', { worker_id: undefined }, 'worker_id'],
    ['an empty worker_id', { worker_id: '' }, 'worker_id'],
    ['a limit given as text', { limit: '5' }, 'limit'],
  ])('answers 422 naming the field for %s', async (_case, patch, field) => {
    const res = await claimRaw({ worker_id: 'w-valid', task_type_ids: [987654], ...patch });
    expect(res.status).toBe(422);
    expect(locs(res)).toContainEqual(['body', field]);
  });

  it.each([
    ['heartbeat', {}],
    ['complete', {}],
    ['fail', { error_message: 'x' }],
  ])('answers 422 for %s without a lease_id', async (action, extra) => {
    const type = await newType();
    const task = await createTask({ task_type_id: type.id });
    const res = await server.request('POST', `/api/tasks/${task.id}/${action}`, { worker_id: 'w', ...extra });
    expect(res.status).toBe(422);
    expect(locs(res)).toContainEqual(['body', 'lease_id']);
  });
});

describe('concurrent claims', () => {
  it('hands every task out exactly once to 30 concurrent claimers', async () => {
    const type = await newType();
    const batch = await server.request('POST', '/api/tasks/batch', {
      tasks: Array.from({ length: 300 }, (_, i) => ({ task_type_id: type.id, priority: 1 + (i % 7) })),
    });
    expect(batch.status).toBe(201);
    const ids = new Set<number>(batch.body.map((t: WireTask) => t.id));
    expect(ids.size).toBe(300);

    const handedOut: { id: number; worker: string; lease: string }[] = [];
    for (let round = 0; round < 50; round++) {
      const responses = await Promise.all(
        Array.from({ length: 30 }, (_, i) =>
          claimRaw({ worker_id: `w-conc-${i}`, task_type_ids: [type.id], limit: 5 + (i % 6), lease_seconds: 600 }),
        ),
      );
      let got = 0;
      responses.forEach((res, i) => {
        expect(res.status).toBe(200);
        for (const task of res.body as WireTask[]) {
          expect(task.worker_id).toBe(`w-conc-${i}`);
          handedOut.push({ id: task.id, worker: task.worker_id!, lease: task.lease_id! });
          got++;
        }
      });
      if (got === 0) break;
    }

    const counts = new Map<number, number>();
    for (const { id } of handedOut) counts.set(id, (counts.get(id) ?? 0) + 1);
    const duplicates = [...counts].filter(([, n]) => n > 1);
    expect(duplicates).toEqual([]);
    expect(handedOut).toHaveLength(300);
    expect(new Set(counts.keys())).toEqual(ids);
    expect(new Set(handedOut.map((h) => h.lease)).size).toBe(300);

    // Each task is running under the lease of the worker it was handed to.
    const stored = await tasksOfType(type.id);
    const byId = new Map(stored.map((t) => [t.id, t]));
    for (const h of handedOut) expect(byId.get(h.id)).toMatchObject({ status: 'running', attempts: 1, worker_id: h.worker, lease_id: h.lease });
  });
});

describe('edge cases of claim filters and idempotency', () => {
  it('claims nothing when a filter list is given but empty', async () => {
    const type = await newType();
    await createTask({ task_type_id: type.id });
    expect(await claim({ worker_id: 'w-empty', task_type_ids: [] })).toEqual([]);
    expect(await claim({ worker_id: 'w-empty', task_types: [] })).toEqual([]);
    expect((await tasksOfType(type.id))[0]).toMatchObject({ status: 'pending', attempts: 0 });
  });

  it('returns the first task for a repeated idempotent create even after the type was deactivated', async () => {
    const type = await newType();
    const first = await server.request('POST', '/api/tasks', { task_type_id: type.id, idempotency_key: 'order-7' });
    expect(first.status).toBe(201);
    expect((await server.request('DELETE', `/api/task-types/${type.id}`)).status).toBe(204);
    const again = await server.request('POST', '/api/tasks', { task_type_id: type.id, idempotency_key: 'order-7' });
    expect(again.status).toBe(200);
    expect(again.body.id).toBe(first.body.id);
    const fresh = await server.request('POST', '/api/tasks', { task_type_id: type.id, idempotency_key: 'order-8' });
    expect(fresh.status).toBe(400);
  });
});
