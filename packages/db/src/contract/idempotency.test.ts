/** Idempotent creates: a second create with a key already used for the type returns the first task. */
import { describe, expect, it } from 'vitest';
import { InvalidStateError } from '../errors.js';
import { forEachEngine } from './engines.js';
import { idsOf, newTask, newType, rejection, tasksOf } from './fixtures.js';

forEachEngine((engine) => {
  describe('createTask with an idempotency key', () => {
    it('returns the first task, unchanged, for a repeated key; another type gets its own task', async () => {
      const type = await newType(engine.store);
      const other = await newType(engine.store);
      const first = await engine.store.createTask({ task_type_id: type.id, idempotency_key: 'order-42', priority: 7 });
      expect(first).toMatchObject({ created: true, task: { idempotency_key: 'order-42', priority: 7 } });
      const second = await engine.store.createTask({ task_type_id: type.id, idempotency_key: 'order-42', priority: 9, parameters: { x: 1 } });
      expect(second).toEqual({ created: false, task: first.task });
      expect(await tasksOf(engine.store, type)).toHaveLength(1);

      const elsewhere = await engine.store.createTask({ task_type_id: other.id, idempotency_key: 'order-42' });
      expect(elsewhere.created).toBe(true);
      expect(elsewhere.task).toMatchObject({ task_type_id: other.id });
      expect(elsewhere.task.id).not.toBe(first.task.id);

      // Without a key, every create is a new task.
      const [plain1, plain2] = [await newTask(engine.store, type), await newTask(engine.store, type)];
      expect(plain1.id).not.toBe(plain2.id);
      expect(await tasksOf(engine.store, type)).toHaveLength(3);
    });

    it('returns the task as it is now, whatever happened to it since', async () => {
      const type = await newType(engine.store);
      const { task } = await engine.store.createTask({ task_type_id: type.id, idempotency_key: 'k' });
      const done = await engine.store.updateTask(task.id, { status: 'completed', result: { ok: true } });
      expect(await engine.store.createTask({ task_type_id: type.id, idempotency_key: 'k' })).toEqual({ created: false, task: done });
    });

    it('returns the first task even after its type was deactivated; a new key is refused', async () => {
      const type = await newType(engine.store);
      const first = await engine.store.createTask({ task_type_id: type.id, idempotency_key: 'order-7' });
      await engine.store.deactivateTaskType(type.id);
      expect(await engine.store.createTask({ task_type_id: type.id, idempotency_key: 'order-7' })).toEqual({ created: false, task: first.task });
      expect(await rejection(engine.store.createTask({ task_type_id: type.id, idempotency_key: 'order-8' }))).toBeInstanceOf(InvalidStateError);
    });

    it('creates one task for many concurrent creates with one key', async () => {
      const type = await newType(engine.store);
      const results = await Promise.all(Array.from({ length: 20 }, () => engine.store.createTask({ task_type_id: type.id, idempotency_key: 'same' })));
      expect(results.filter((result) => result.created)).toHaveLength(1);
      expect(new Set(results.map((result) => result.task.id)).size).toBe(1);
      expect(await tasksOf(engine.store, type)).toHaveLength(1);
    });

    it('does not validate the parameters of a repeat that returns the first task', async () => {
      const type = await newType(engine.store, { parameters_schema: { type: 'object', required: ['n'] } });
      const first = await engine.store.createTask({ task_type_id: type.id, idempotency_key: 'k', parameters: { n: 1 } });
      expect(await engine.store.createTask({ task_type_id: type.id, idempotency_key: 'k', parameters: {} })).toEqual({ created: false, task: first.task });
    });
  });

  describe('createTasks with idempotency keys', () => {
    it('puts the earlier task, from the store or from the batch, in the place of a repeated key', async () => {
      const type = await newType(engine.store);
      const { task: earlier } = await engine.store.createTask({ task_type_id: type.id, idempotency_key: 'a' });
      const tasks = await engine.store.createTasks([
        { task_type_id: type.id, idempotency_key: 'a' },
        { task_type_id: type.id, idempotency_key: 'b' },
        { task_type_id: type.id, idempotency_key: 'b' },
        { task_type_id: type.id },
      ]);
      expect(tasks[0]).toEqual(earlier);
      expect(tasks[2]).toEqual(tasks[1]);
      expect(new Set(idsOf(tasks)).size).toBe(3);
      expect(await tasksOf(engine.store, type)).toHaveLength(3);
    });
  });
});
