/**
 * Long polls over HTTP: a claim with wait_seconds waits for a task (created, retried, come due,
 * released) and answers as soon as one is its, or [] at the end of the wait; a client that goes
 * away stops its claim. How the store signals waiting claims is tested per engine in
 * packages/db/src/contract/signals.test.ts.
 */
import { describe, expect, it, vi } from 'vitest';
import type { Task } from '@prismq/db';
import { until, useQueueServer } from './http-testing.js';

const api = useQueueServer();
const { newType, createTask, claimRaw, claim, getTask, tasksOfType } = api;

/** A task as the API returns it. */
type WireTask = Task;

describe('long poll', () => {
  it('wakes a waiting claim as soon as a matching task is created', async () => {
    const type = await newType();
    const latencies: number[] = [];
    const nextClaimableAt = vi.spyOn(api.server.store, 'nextClaimableAt');
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
    const nextClaimableAt = vi.spyOn(api.server.store, 'nextClaimableAt');
    try {
      const waiting = Array.from({ length: 20 }, (_, i) =>
        claimRaw({ worker_id: `w-many-${i}`, task_type_ids: [type.id], limit: 1 + (i % 3), wait_seconds: 2 }),
      );
      await until('every claim to wait', async () => (nextClaimableAt.mock.calls.length >= 20 ? true : undefined));
      // A batch and single creates arrive together: they share commits with the claims they serve.
      const created = await Promise.all([
        api.request('POST', '/api/tasks/batch', { tasks: Array.from({ length: 15 }, () => ({ task_type_id: type.id })) }),
        ...Array.from({ length: 5 }, () => api.request('POST', '/api/tasks', { task_type_id: type.id })),
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
    const nextClaimableAt = vi.spyOn(api.server.store, 'nextClaimableAt');
    const claimTasks = vi.spyOn(api.server.store, 'claimTasks');
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
      const res = await api.request('POST', '/api/tasks/batch', { tasks: [{ task_type_id: typeId }] });
      expect(res.status).toBe(201);
      return res.body[0].id as number;
    }],
    ['a retry of a cancelled task', async (typeId: number) => {
      const task = await createTask({ task_type_id: typeId });
      // Cancelled before anyone waits, so only the retry can wake the claim.
      expect((await api.request('POST', `/api/tasks/${task.id}/cancel`)).status).toBe(200);
      return task.id;
    }],
  ])('wakes a waiting claim on %s', async (what, prepare) => {
    const type = await newType();
    const isRetry = what.startsWith('a retry');
    const taskId = isRetry ? await prepare(type.id) : undefined;
    const nextClaimableAt = vi.spyOn(api.server.store, 'nextClaimableAt');
    try {
      const started = Date.now();
      const waiting = claimRaw({ worker_id: 'w-poll-wake', task_type_ids: [type.id], wait_seconds: 10 });
      await until('the claim to start waiting', async () => (nextClaimableAt.mock.calls.length > 0 ? true : undefined));
      let expectedId: number;
      if (isRetry) {
        expect((await api.request('POST', `/api/tasks/${taskId}/retry`)).status).toBe(200);
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
    const subscribe = api.server.store.onTasksAvailable.bind(api.server.store);
    const onTasksAvailable = vi.spyOn(api.server.store, 'onTasksAvailable').mockImplementation((listener) => {
      waiting++;
      const unsubscribe = subscribe(listener);
      return () => {
        waiting--;
        unsubscribe();
      };
    });
    const nextClaimableAt = vi.spyOn(api.server.store, 'nextClaimableAt');
    try {
      const client = new AbortController();
      const gone = fetch(`${api.server.url}/api/tasks/claim`, {
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
