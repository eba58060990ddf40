/** createTasks: all the tasks in one transaction, in order, or none, with problems under `tasks.<index>`. */
import { describe, expect, it } from 'vitest';
import { InvalidStateError, NotFoundError } from '../errors.js';
import { forEachEngine } from './engines.js';
import { newTask, newType, pathsOf, problemsOf, rejection, tasksOf } from './fixtures.js';

forEachEngine((engine) => {
  describe('createTasks', () => {
    it('creates every task, pending, in the order given', async () => {
      const type = await newType(engine.store);
      const tasks = await engine.store.createTasks([
        { task_type_id: type.id, priority: 3, parameters: { n: 0 } },
        { task_type_id: type.id, priority: 1, parameters: { n: 1 } },
        { task_type_id: type.id, parameters: { n: 2 }, delay_seconds: 60 },
      ]);
      expect(tasks.map((task) => task.parameters.n)).toEqual([0, 1, 2]);
      expect(tasks.map((task) => [task.status, task.priority])).toEqual([
        ['pending', 3],
        ['pending', 1],
        ['pending', 100],
      ]);
      expect(tasks[0]!.id).toBeLessThan(tasks[1]!.id);
      expect(tasks[1]!.id).toBeLessThan(tasks[2]!.id);
      expect(tasks[2]!.run_at > tasks[2]!.created_at).toBe(true);
      for (const task of tasks) expect(await engine.store.getTask(task.id)).toEqual(task);
    });

    it('creates nothing when any parameters break their schema, naming each under tasks.<index>', async () => {
      const type = await newType(engine.store, { parameters_schema: { type: 'object', properties: { n: { type: 'integer' } }, required: ['n'] } });
      const problems = await problemsOf(
        engine.store.createTasks([
          { task_type_id: type.id, parameters: { n: 1 } },
          { task_type_id: type.id, parameters: { n: 'one' } },
          { task_type_id: type.id, parameters: { n: 3 } },
          { task_type_id: type.id, parameters: {} },
        ]),
      );
      const paths = pathsOf(problems);
      expect(paths).toContainEqual(['tasks', 1, 'parameters', 'n']);
      expect(paths).toContainEqual(['tasks', 3, 'parameters', 'n']);
      expect(paths.every((path) => path[0] === 'tasks' && (path[1] === 1 || path[1] === 3) && path[2] === 'parameters')).toBe(true);
      expect(await tasksOf(engine.store, type)).toEqual([]);
    });

    it('creates nothing when a task names an inactive or unknown type', async () => {
      const type = await newType(engine.store);
      const retired = await newType(engine.store);
      await engine.store.deactivateTaskType(retired.id);

      const inactive = await rejection(engine.store.createTasks([{ task_type_id: type.id }, { task_type_id: retired.id }]));
      expect(inactive).toBeInstanceOf(InvalidStateError);
      expect(inactive.message).toBe(`Task type ${retired.id} is not active`);
      const unknown = await rejection(engine.store.createTasks([{ task_type_id: type.id }, { task_type_id: 987_654 }]));
      expect(unknown).toBeInstanceOf(NotFoundError);
      expect(unknown.message).toBe('Task type 987654 not found');
      expect(await tasksOf(engine.store, type)).toEqual([]);
    });

    it('creates a thousand tasks in one batch', async () => {
      const type = await newType(engine.store);
      const tasks = await engine.store.createTasks(Array.from({ length: 1000 }, (_, i) => ({ task_type_id: type.id, parameters: { i } })));
      expect(tasks.map((task) => task.parameters.i)).toEqual(Array.from({ length: 1000 }, (_, i) => i));
      expect(await tasksOf(engine.store, type)).toHaveLength(1000);
      // The store takes single creates as before.
      expect((await newTask(engine.store, type)).status).toBe('pending');
    });
  });
});
