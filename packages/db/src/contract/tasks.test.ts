/** Tasks as records: create with defaults, read, partial update with its timestamps, delete, and retention. */
import { describe, expect, it, vi } from 'vitest';
import { LeaseLostError, NotFoundError } from '../errors.js';
import { forEachEngine } from './engines.js';
import { claimOne, idsOf, ISO_UTC, leaseOf, msBetween, newTask, newType, rejection, WAIT } from './fixtures.js';

forEachEngine((engine) => {
  describe('createTask', () => {
    it('creates a pending task with the fields given', async () => {
      const type = await newType(engine.store);
      const given = {
        parameters: { algorithm: 'kmeans', dataset_path: '/data/dataset.csv' },
        priority: 50,
        metadata: { user_id: 'user123' },
        max_attempts: 4,
        idempotency_key: 'order-1',
      };
      const { task, created } = await engine.store.createTask({ task_type_id: type.id, ...given });
      expect(created).toBe(true);
      // Not yet run, claimed, updated or finished.
      const untouched = { result: null, error_message: null, updated_at: null, started_at: null, completed_at: null, attempts: 0 };
      const unleased = { worker_id: null, lease_id: null, lease_expires_at: null, progress: null, progress_message: null };
      expect(task).toEqual({
        ...given,
        ...untouched,
        ...unleased,
        id: expect.any(Number),
        task_type_id: type.id,
        status: 'pending',
        created_at: expect.stringMatching(ISO_UTC),
        run_at: task.created_at,
      });
    });

    it('defaults priority to 100, parameters and metadata to {}, run_at to now and max_attempts to the type’s', async () => {
      const type = await newType(engine.store, { max_attempts: 4 });
      const task = await newTask(engine.store, type);
      expect(task).toMatchObject({ priority: 100, parameters: {}, metadata: {}, max_attempts: 4, run_at: task.created_at, idempotency_key: null });
    });

    it('keeps a run_at as given and sets run_at delay_seconds after created_at', async () => {
      const type = await newType(engine.store);
      expect((await newTask(engine.store, type, { run_at: '2030-01-01T10:00:00.000Z' })).run_at).toBe('2030-01-01T10:00:00.000Z');
      const delayed = await newTask(engine.store, type, { delay_seconds: 90 });
      expect(msBetween(delayed.created_at, delayed.run_at)).toBe(90_000);
    });
  });

  describe('getTask', () => {
    it('returns the task as created', async () => {
      const type = await newType(engine.store);
      const task = await newTask(engine.store, type, { parameters: { p: 1 }, metadata: { m: [1, 'two'] } });
      expect(await engine.store.getTask(task.id)).toEqual(task);
    });
  });

  describe('updateTask', () => {
    it('sets started_at when the task becomes running, and completed_at when it becomes completed', async () => {
      const type = await newType(engine.store);
      const task = await newTask(engine.store, type, { priority: 10 });
      const running = await engine.store.updateTask(task.id, { status: 'running' });
      expect(running).toMatchObject({
        status: 'running',
        priority: 10,
        completed_at: null,
        started_at: expect.stringMatching(ISO_UTC),
        updated_at: expect.stringMatching(ISO_UTC),
      });

      const result = { clusters: 5, output_path: '/results/clusters.json' };
      const done = await engine.store.updateTask(task.id, { status: 'completed', result });
      expect(done).toMatchObject({ status: 'completed', result, started_at: running.started_at, completed_at: expect.stringMatching(ISO_UTC) });
      expect(await engine.store.getTask(task.id)).toEqual(done);
    });

    it.each(['failed', 'cancelled'] as const)('sets completed_at when the status becomes %s', async (status) => {
      const type = await newType(engine.store);
      const task = await newTask(engine.store, type);
      const updated = await engine.store.updateTask(task.id, { status, error_message: 'boom' });
      expect(updated).toMatchObject({ status, error_message: 'boom', started_at: null, completed_at: expect.stringMatching(ISO_UTC) });
    });

    it('leaves absent fields alone, takes any JSON as result, and clears result and error_message with null', async () => {
      const type = await newType(engine.store);
      const task = await newTask(engine.store, type, { parameters: { p: 1 }, metadata: { m: 1 }, priority: 7 });
      const withResult = await engine.store.updateTask(task.id, { result: [1, 'two', { three: 3 }], error_message: 'partial' });
      expect(withResult).toMatchObject({ parameters: { p: 1 }, metadata: { m: 1 }, priority: 7, status: 'pending' });
      expect(withResult.result).toEqual([1, 'two', { three: 3 }]);

      const changed = await engine.store.updateTask(task.id, { priority: 3, parameters: { p: 2 }, metadata: { m: 2 } });
      expect(changed).toMatchObject({ priority: 3, parameters: { p: 2 }, metadata: { m: 2 }, error_message: 'partial' });
      expect(changed.result).toEqual([1, 'two', { three: 3 }]);

      for (const result of ['text', 42, true]) expect((await engine.store.updateTask(task.id, { result })).result).toEqual(result);
      const cleared = await engine.store.updateTask(task.id, { result: null, error_message: null });
      expect(cleared).toMatchObject({ result: null, error_message: null });
    });

    it('sets updated_at even for an empty update', async () => {
      const type = await newType(engine.store);
      const task = await newTask(engine.store, type);
      const updated = await engine.store.updateTask(task.id, {});
      expect(updated).toEqual({ ...task, updated_at: expect.stringMatching(ISO_UTC) });
    });

    it('ends the lease of a running task whose status is set by hand', async () => {
      const type = await newType(engine.store);
      await newTask(engine.store, type);
      const claimed = await claimOne(engine.store, type);
      const back = await engine.store.updateTask(claimed.id, { status: 'pending' });
      expect(back).toMatchObject({ status: 'pending', lease_id: null, lease_expires_at: null });
      expect(await rejection(engine.store.completeTask(claimed.id, leaseOf(claimed), null))).toBeInstanceOf(LeaseLostError);
    });
  });

  describe('deleteTask', () => {
    it('removes the task for good', async () => {
      const type = await newType(engine.store);
      const task = await newTask(engine.store, type);
      await engine.store.deleteTask(task.id);
      expect(await rejection(engine.store.getTask(task.id))).toBeInstanceOf(NotFoundError);
      expect(await rejection(engine.store.deleteTask(task.id))).toBeInstanceOf(NotFoundError);
    });
  });

  describe('deleteFinishedTasks', () => {
    it('deletes up to limit tasks that finished before the time given, oldest first, and says how many', async () => {
      const store = await engine.fresh();
      const type = await newType(store);
      const [first, second, third, pending, running] = await store.createTasks(Array.from({ length: 5 }, () => ({ task_type_id: type.id })));
      const firstDone = await store.updateTask(first!.id, { status: 'completed' });
      // Each finishes at a later time than the one before.
      const after = async (earlier: string) => vi.waitFor(() => expect(new Date().toISOString() > earlier).toBe(true), WAIT);
      await after(firstDone.completed_at!);
      const secondDone = await store.updateTask(second!.id, { status: 'failed' });
      await after(secondDone.completed_at!);
      const thirdDone = await store.updateTask(third!.id, { status: 'cancelled' });
      await store.updateTask(running!.id, { status: 'running' });

      // Nothing finished before the first one did.
      expect(await store.deleteFinishedTasks(firstDone.completed_at!, 100)).toBe(0);
      await after(thirdDone.completed_at!);
      const now = new Date().toISOString();
      expect(await store.deleteFinishedTasks(now, 1)).toBe(1);
      expect(idsOf(await store.listTasks({ limit: 10 }))).toEqual([running!.id, pending!.id, third!.id, second!.id]);
      expect(await store.deleteFinishedTasks(now, 100)).toBe(2);
      expect((await store.listTasks({ limit: 10 })).map((task) => task.status).sort()).toEqual(['pending', 'running']);
      expect(await store.deleteFinishedTasks(now, 100)).toBe(0);
    });
  });
});
