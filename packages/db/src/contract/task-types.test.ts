/** The registry of task types: create with defaults, list by name, read, partial update, soft delete. */
import { describe, expect, it } from 'vitest';
import { InvalidStateError } from '../errors.js';
import { forEachEngine } from './engines.js';
import { claim, ISO_UTC, newTask, newType, rejection } from './fixtures.js';

const schema = { type: 'object', properties: { format: { type: 'string', enum: ['mp4', 'webm'] } }, required: ['format'] };

forEachEngine((engine) => {
  describe('createTaskType', () => {
    it('creates an active type with the fields given and a created_at', async () => {
      const given = {
        name: 'video_processing',
        description: 'Process video files',
        parameters_schema: schema,
        metadata: { category: 'media' },
        max_attempts: 7,
        retry_base_seconds: 2,
        retry_max_seconds: 30,
      };
      const type = await engine.store.createTaskType(given);
      expect(type).toEqual({ ...given, id: expect.any(Number), is_active: true, created_at: expect.stringMatching(ISO_UTC), updated_at: null });
    });

    it('defaults description to null, schema and metadata to {}, and the retry policy to 3 attempts, 5 s base, 3600 s cap', async () => {
      const type = await newType(engine.store);
      expect(type).toMatchObject({
        description: null,
        parameters_schema: {},
        metadata: {},
        max_attempts: 3,
        retry_base_seconds: 5,
        retry_max_seconds: 3600,
      });
      // Its tasks take its attempts.
      expect(await newTask(engine.store, type)).toMatchObject({ max_attempts: 3, attempts: 0 });
    });
  });

  describe('listTaskTypes', () => {
    it('lists active types ordered by name, inactive ones only when asked', async () => {
      const store = await engine.fresh();
      for (const name of ['zeta', 'alpha', 'mid']) await store.createTaskType({ name });
      const gone = await store.createTaskType({ name: 'beta-gone' });
      await store.deactivateTaskType(gone.id);

      expect((await store.listTaskTypes({})).map((type) => type.name)).toEqual(['alpha', 'mid', 'zeta']);
      expect((await store.listTaskTypes({ include_inactive: false })).map((type) => type.name)).toEqual(['alpha', 'mid', 'zeta']);
      expect((await store.listTaskTypes({ include_inactive: true })).map((type) => type.name)).toEqual(['alpha', 'beta-gone', 'mid', 'zeta']);
    });
  });

  describe('getTaskType', () => {
    it('returns the type as created', async () => {
      const type = await newType(engine.store, { description: 'fetchable', metadata: { a: 1 } });
      expect(await engine.store.getTaskType(type.id)).toEqual(type);
    });
  });

  describe('updateTaskType', () => {
    it('changes only the fields given and always sets updated_at', async () => {
      const type = await newType(engine.store, { description: 'before', metadata: { a: 1 } });
      const described = await engine.store.updateTaskType(type.id, { description: 'after' });
      expect(described).toEqual({ ...type, description: 'after', updated_at: expect.stringMatching(ISO_UTC) });

      const next = { type: 'object', properties: { n: { type: 'integer' } } };
      const changed = await engine.store.updateTaskType(type.id, { parameters_schema: next, metadata: {}, max_attempts: 9 });
      expect(changed).toMatchObject({ description: 'after', parameters_schema: next, metadata: {}, max_attempts: 9, is_active: true });
      expect(await engine.store.updateTaskType(type.id, {})).toMatchObject({ ...changed, updated_at: expect.stringMatching(ISO_UTC) });
      expect(await engine.store.updateTaskType(type.id, { description: null })).toMatchObject({ description: null });
    });

    it('gives new tasks the new max_attempts and leaves existing tasks theirs', async () => {
      const type = await newType(engine.store, { max_attempts: 2 });
      const before = await newTask(engine.store, type);
      await engine.store.updateTaskType(type.id, { max_attempts: 6 });
      expect((await engine.store.getTask(before.id)).max_attempts).toBe(2);
      expect((await newTask(engine.store, type)).max_attempts).toBe(6);
    });

    it('re-activates a deactivated type with is_active true', async () => {
      const type = await newType(engine.store);
      await engine.store.deactivateTaskType(type.id);
      expect(await engine.store.updateTaskType(type.id, { is_active: true })).toMatchObject({ is_active: true });
      expect((await engine.store.listTaskTypes({})).map((t) => t.id)).toContain(type.id);
      expect(await newTask(engine.store, type)).toMatchObject({ status: 'pending' });
    });
  });

  describe('deactivateTaskType', () => {
    it('keeps the type, inactive, with its tasks, and takes no new tasks of it', async () => {
      const type = await newType(engine.store);
      const task = await newTask(engine.store, type);
      await engine.store.deactivateTaskType(type.id);

      expect(await engine.store.getTaskType(type.id)).toMatchObject({ is_active: false, updated_at: expect.stringMatching(ISO_UTC) });
      expect(await engine.store.getTask(task.id)).toEqual(task);
      const refused = await rejection(engine.store.createTask({ task_type_id: type.id }));
      expect(refused).toBeInstanceOf(InvalidStateError);
      expect(refused.message).toBe(`Task type ${type.id} is not active`);
      // Its pending tasks wait: no claim takes them while it is inactive (see claim.test.ts).
      expect(await claim(engine.store, type)).toEqual([]);
    });

    it('may be done twice', async () => {
      const type = await newType(engine.store);
      await engine.store.deactivateTaskType(type.id);
      await engine.store.deactivateTaskType(type.id);
      expect((await engine.store.getTaskType(type.id)).is_active).toBe(false);
    });
  });
});
