/**
 * exchange: a worker's turn in one call. It settles the attempts the worker finished (completed
 * or failed, each exactly as completeTask and failTask would), reports the ones it may no longer
 * settle instead of failing the call, then claims as claimTasks does.
 */
import { describe, expect, it, vi } from 'vitest';
import { LeaseLostError, NotFoundError } from '../errors.js';
import type { ExchangeRequest, TaskEvent } from '../store.js';
import type { TaskType } from '../types.js';
import { forEachEngine } from './engines.js';
import { claim, claimRequest, idsOf, leaseOf, leaseRunOut, newTask, newTasks, newType, SHORT_LEASE, WAIT } from './fixtures.js';

/** An exchange for `type` by worker `w`: nothing to settle and nothing to claim unless told. */
const exchangeRequest = (type: Pick<TaskType, 'id'>, request: Partial<ExchangeRequest> = {}): ExchangeRequest => ({
  ...claimRequest(type, { limit: 0 }),
  settle: [],
  ...request,
});

forEachEngine((engine) => {
  describe('exchange', () => {
    it('completes and fails the attempts given, and claims the next tasks, in one call', async () => {
      const type = await newType(engine.store, { max_attempts: 1 });
      const [a, b, c, d] = await newTasks(engine.store, type, 4);
      const [ca, cb] = await claim(engine.store, type, { limit: 2 });
      expect(idsOf([ca!, cb!])).toEqual([a!.id, b!.id]);

      const { settled, tasks } = await engine.store.exchange(
        exchangeRequest(type, {
          limit: 5,
          settle: [
            { task_id: a!.id, lease_id: ca!.lease_id!, outcome: 'completed', result: { size: 3 } },
            { task_id: b!.id, lease_id: cb!.lease_id!, outcome: 'failed', error_message: 'boom', retry: true },
          ],
        }),
      );
      expect(settled).toEqual([
        { task_id: a!.id, task_type_id: type.id, status: 'completed' },
        { task_id: b!.id, task_type_id: type.id, status: 'failed' },
      ]);
      expect(idsOf(tasks)).toEqual([c!.id, d!.id]);
      expect(tasks.every((task) => task.status === 'running' && task.worker_id === 'w' && task.lease_id)).toBe(true);

      expect(await engine.store.getTask(a!.id)).toMatchObject({ status: 'completed', result: { size: 3 }, lease_expires_at: null, completed_at: expect.any(String) });
      expect(await engine.store.getTask(b!.id)).toMatchObject({ status: 'failed', error_message: 'boom', completed_at: expect.any(String) });
    });

    it('sends a failed attempt with attempts left back to pending after its backoff', async () => {
      const type = await newType(engine.store, { max_attempts: 3, retry_base_seconds: 60 });
      const task = await newTask(engine.store, type);
      const [claimed] = await claim(engine.store, type);
      const { settled, tasks } = await engine.store.exchange(
        exchangeRequest(type, { limit: 1, settle: [{ task_id: task.id, lease_id: claimed!.lease_id!, outcome: 'failed', error_message: 'again', retry: true }] }),
      );
      expect(settled).toEqual([{ task_id: task.id, task_type_id: type.id, status: 'pending' }]);
      // Not due again yet: the exchange's own claim does not take it.
      expect(tasks).toEqual([]);
      const after = await engine.store.getTask(task.id);
      expect(after).toMatchObject({ status: 'pending', error_message: 'again', attempts: 1 });
      expect(Date.parse(after.run_at)).toBeGreaterThan(Date.now() + 20_000);
    });

    it('reports a lost lease or an unknown task per settlement, and still settles the rest and claims', async () => {
      const type = await newType(engine.store);
      const [a, b, c] = await newTasks(engine.store, type, 3);
      const [ca, cb] = await claim(engine.store, type, { limit: 2 });
      await engine.store.cancelTask(b!.id);

      const { settled, tasks } = await engine.store.exchange(
        exchangeRequest(type, {
          limit: 1,
          settle: [
            { task_id: b!.id, lease_id: cb!.lease_id!, outcome: 'completed', result: null },
            { task_id: 999_999, lease_id: 'nobody', outcome: 'failed', error_message: 'x', retry: false },
            { task_id: a!.id, lease_id: 'not-the-lease', outcome: 'completed' },
            { task_id: a!.id, lease_id: ca!.lease_id!, outcome: 'completed', result: 'ok' },
            // The same task twice: the second finds it settled.
            { task_id: a!.id, lease_id: ca!.lease_id!, outcome: 'completed', result: 'again' },
          ],
        }),
      );
      expect(settled).toHaveLength(5);
      expect(settled[0]).toMatchObject({ task_id: b!.id, error: expect.any(LeaseLostError) });
      expect(settled[1]).toMatchObject({ task_id: 999_999, error: expect.any(NotFoundError) });
      expect(settled[2]).toMatchObject({ task_id: a!.id, error: expect.any(LeaseLostError) });
      expect(settled[3]).toEqual({ task_id: a!.id, task_type_id: type.id, status: 'completed' });
      expect(settled[4]).toMatchObject({ task_id: a!.id, error: expect.any(LeaseLostError) });
      expect(idsOf(tasks)).toEqual([c!.id]);
      expect(await engine.store.getTask(a!.id)).toMatchObject({ status: 'completed', result: 'ok' });
      expect(await engine.store.getTask(b!.id)).toMatchObject({ status: 'cancelled', result: null });
    });

    it('settles only with the lease of the worker that asks', async () => {
      const type = await newType(engine.store);
      const task = await newTask(engine.store, type);
      const [claimed] = await claim(engine.store, type, { worker_id: 'owner' });
      const { settled } = await engine.store.exchange(
        exchangeRequest(type, { worker_id: 'thief', settle: [{ task_id: task.id, lease_id: claimed!.lease_id!, outcome: 'completed' }] }),
      );
      expect(settled[0]).toMatchObject({ error: expect.any(LeaseLostError) });
      expect(await engine.store.getTask(task.id)).toMatchObject({ status: 'running', worker_id: 'owner' });
    });

    it('with limit 0 claims nothing, and with nothing to settle is a plain claim', async () => {
      const type = await newType(engine.store);
      const [a] = await newTasks(engine.store, type, 2);
      expect(await engine.store.exchange(exchangeRequest(type))).toEqual({ settled: [], tasks: [] });
      const { settled, tasks } = await engine.store.exchange(exchangeRequest(type, { limit: 1, worker_id: 'plain' }));
      expect(settled).toEqual([]);
      expect(tasks).toEqual([expect.objectContaining({ id: a!.id, status: 'running', worker_id: 'plain', attempts: 1 })]);
      expect(leaseOf(tasks[0]!).lease_id).toEqual(expect.any(String));
    });

    it('never hands one task to two exchanges at once', async () => {
      const type = await newType(engine.store);
      await newTasks(engine.store, type, 40);
      const results = await Promise.all(
        Array.from({ length: 8 }, (_, i) => engine.store.exchange(exchangeRequest(type, { worker_id: `w${i}`, limit: 7 }))),
      );
      const ids = results.flatMap(({ tasks }) => idsOf(tasks));
      expect(ids).toHaveLength(40);
      expect(new Set(ids).size).toBe(40);
    });

    it('completes a task whose lease ran out but was not claimed again, rather than ending the lease', async () => {
      const type = await newType(engine.store);
      const task = await newTask(engine.store, type);
      const [claimed] = await claim(engine.store, type, { lease_seconds: SHORT_LEASE });
      await leaseRunOut(claimed!);
      const { settled, tasks } = await engine.store.exchange(
        exchangeRequest(type, { limit: 5, settle: [{ task_id: task.id, lease_id: claimed!.lease_id!, outcome: 'completed', result: 'late but held' }] }),
      );
      expect(settled).toEqual([{ task_id: task.id, task_type_id: type.id, status: 'completed' }]);
      expect(tasks).toEqual([]);
      expect(await engine.store.getTask(task.id)).toMatchObject({ status: 'completed', result: 'late but held', attempts: 1 });
    });

    it('keeps the counts by type and status in step', async () => {
      const store = await engine.fresh();
      const type = await newType(store, { max_attempts: 1 });
      await newTasks(store, type, 6);
      const [a, b, c] = await claim(store, type, { limit: 3 });
      await store.exchange(
        exchangeRequest(type, {
          limit: 2,
          settle: [
            { task_id: a!.id, lease_id: a!.lease_id!, outcome: 'completed' },
            { task_id: b!.id, lease_id: b!.lease_id!, outcome: 'completed' },
          ],
        }),
      );
      await store.exchange(exchangeRequest(type, { settle: [{ task_id: c!.id, lease_id: c!.lease_id!, outcome: 'failed', error_message: 'x', retry: false }] }));
      const counts = Object.fromEntries((await store.countTasks()).map(({ status, count }) => [status, count]));
      expect(counts).toMatchObject({ completed: 2, failed: 1, running: 2, pending: 1 });
    });

    it('reports its settlements and claims as task events', async () => {
      const store = await engine.fresh();
      const type = await newType(store, { max_attempts: 2, retry_base_seconds: 60 });
      const [a, b] = await newTasks(store, type, 3);
      const [ca, cb] = await claim(store, type, { limit: 2 });
      const events: TaskEvent[] = [];
      const unsubscribe = store.onTaskEvent((event) => events.push(event));
      await store.exchange(
        exchangeRequest(type, {
          limit: 1,
          settle: [
            { task_id: a!.id, lease_id: ca!.lease_id!, outcome: 'completed' },
            { task_id: b!.id, lease_id: cb!.lease_id!, outcome: 'failed', error_message: 'later', retry: true },
          ],
        }),
      );
      await vi.waitFor(
        () =>
          expect(events).toEqual(
            expect.arrayContaining([
              { kind: 'completed', task_type_id: type.id, count: 1 },
              { kind: 'retried', task_type_id: type.id, count: 1 },
              { kind: 'claimed', task_type_id: type.id, count: 1 },
            ]),
          ),
        WAIT,
      );
      unsubscribe();
    });
  });
});
