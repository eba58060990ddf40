/**
 * ValidationError: task parameters checked against their type's JSON Schema, on create and on
 * update, every problem listed with its path; a type's schema checked to be a usable JSON Schema;
 * a backoff cap not below its base. Nothing is written when a check fails.
 */
import { describe, expect, it } from 'vitest';
import { forEachEngine } from './engines.js';
import { newTask, newType, pathsOf, problemsOf, tasksOf } from './fixtures.js';

const schema = {
  type: 'object',
  properties: {
    algorithm: { enum: ['kmeans', 'dbscan'] },
    dataset_path: { type: 'string' },
    k: { type: 'integer', minimum: 1 },
  },
  required: ['algorithm', 'dataset_path'],
};

forEachEngine((engine) => {
  describe('task parameters', () => {
    it('are refused listing every problem under parameters, and nothing is created', async () => {
      const type = await newType(engine.store, { parameters_schema: schema });
      const problems = await problemsOf(engine.store.createTask({ task_type_id: type.id, parameters: { algorithm: 'svm', k: 0 } }));
      const paths = pathsOf(problems);
      expect(paths).toContainEqual(['parameters', 'dataset_path']);
      expect(paths).toContainEqual(['parameters', 'algorithm']);
      expect(paths).toContainEqual(['parameters', 'k']);
      expect(await tasksOf(engine.store, type)).toEqual([]);

      const ok = await newTask(engine.store, type, { parameters: { algorithm: 'kmeans', dataset_path: '/data/a.csv', k: 3 } });
      expect(ok.parameters).toEqual({ algorithm: 'kmeans', dataset_path: '/data/a.csv', k: 3 });
    });

    it('are checked against a type’s schema as updated, for new tasks only', async () => {
      const type = await newType(engine.store, { parameters_schema: schema });
      const old = await newTask(engine.store, type, { parameters: { algorithm: 'kmeans', dataset_path: '/d' } });
      await engine.store.updateTaskType(type.id, { parameters_schema: { ...schema, required: ['algorithm', 'dataset_path', 'k'] } });
      const problems = await problemsOf(engine.store.createTask({ task_type_id: type.id, parameters: { algorithm: 'kmeans', dataset_path: '/d' } }));
      expect(pathsOf(problems)).toEqual([['parameters', 'k']]);
      // The task created before keeps its parameters, and updates that leave them alone pass.
      expect(await engine.store.updateTask(old.id, { priority: 9 })).toMatchObject({ priority: 9, parameters: old.parameters });
    });

    it('are checked on update, which changes nothing when they break the schema', async () => {
      const type = await newType(engine.store, { parameters_schema: schema });
      const task = await newTask(engine.store, type, { parameters: { algorithm: 'kmeans', dataset_path: '/d' } });
      const problems = await problemsOf(engine.store.updateTask(task.id, { parameters: { algorithm: 'nope', dataset_path: 5 }, priority: 9 }));
      expect(pathsOf(problems)).toEqual(expect.arrayContaining([['parameters', 'algorithm'], ['parameters', 'dataset_path']]));
      expect(await engine.store.getTask(task.id)).toEqual(task);

      const ok = await engine.store.updateTask(task.id, { parameters: { algorithm: 'dbscan', dataset_path: '/e' } });
      expect(ok.parameters).toEqual({ algorithm: 'dbscan', dataset_path: '/e' });
    });

    it('may be anything for a type without a schema', async () => {
      const type = await newType(engine.store);
      const parameters = { nested: { list: [1, 'two', null, { deep: true }] }, n: 1.5 };
      expect((await newTask(engine.store, type, { parameters })).parameters).toEqual(parameters);
    });
  });

  describe('parameters_schema', () => {
    it('is refused on create when it is not a usable JSON Schema, and no type is made', async () => {
      const name = `bad_schema_${engine.name}`;
      const problems = await problemsOf(engine.store.createTaskType({ name, parameters_schema: { type: 'nonsense' } }));
      expect(problems.length).toBeGreaterThan(0);
      for (const path of pathsOf(problems)) expect(path[0]).toBe('parameters_schema');
      expect((await engine.store.listTaskTypes({ include_inactive: true })).map((type) => type.name)).not.toContain(name);
    });

    it('is refused on update when it is not a usable JSON Schema, and the type is unchanged', async () => {
      const type = await newType(engine.store, { parameters_schema: schema });
      const problems = await problemsOf(engine.store.updateTaskType(type.id, { parameters_schema: { type: 'nonsense' } }));
      for (const path of pathsOf(problems)) expect(path[0]).toBe('parameters_schema');
      expect(await engine.store.getTaskType(type.id)).toEqual(type);
    });
  });

  describe('retry policy', () => {
    it('refuses a backoff cap below its base, counting the type’s current values for fields left out', async () => {
      const created = await problemsOf(newType(engine.store, { retry_base_seconds: 10, retry_max_seconds: 5 }));
      expect(pathsOf(created)).toEqual([['retry_max_seconds']]);

      const type = await newType(engine.store, { retry_base_seconds: 5, retry_max_seconds: 60 });
      expect(pathsOf(await problemsOf(engine.store.updateTaskType(type.id, { retry_base_seconds: 100 })))).toEqual([['retry_base_seconds']]);
      expect(pathsOf(await problemsOf(engine.store.updateTaskType(type.id, { retry_max_seconds: 1 })))).toEqual([['retry_max_seconds']]);
      expect(await engine.store.getTaskType(type.id)).toEqual(type);
      expect(await engine.store.updateTaskType(type.id, { retry_base_seconds: 60 })).toMatchObject({ retry_base_seconds: 60, retry_max_seconds: 60 });
    });
  });
});
