/**
 * declareTaskType and getTaskTypeByName: a service declares its task types at start-up, on every
 * replica, without listing them first. A declaration registers a new name, leaves a type that
 * already matches exactly as it is, brings one that differs in line, and never switches a
 * deactivated type back on.
 */
import { describe, expect, it } from 'vitest';
import { NotFoundError } from '../errors.js';
import { forEachEngine } from './engines.js';
import { rejection } from './fixtures.js';

let names = 0;
const uniqueName = () => `declared_${++names}_${Date.now()}`;
const schema = { type: 'object', properties: { to: { type: 'string' } }, required: ['to'] };

forEachEngine((engine) => {
  describe('getTaskTypeByName', () => {
    it('finds a type by its name, active or not, and answers NotFoundError naming it otherwise', async () => {
      const type = await engine.store.createTaskType({ name: uniqueName() });
      expect(await engine.store.getTaskTypeByName(type.name)).toEqual(type);
      await engine.store.deactivateTaskType(type.id);
      expect(await engine.store.getTaskTypeByName(type.name)).toMatchObject({ id: type.id, is_active: false });
      const error = await rejection(engine.store.getTaskTypeByName('no such type'));
      expect(error).toBeInstanceOf(NotFoundError);
      expect(error.message).toBe("Task type 'no such type' not found");
    });
  });

  describe('declareTaskType', () => {
    it('registers a name it does not know', async () => {
      const name = uniqueName();
      const { type, created } = await engine.store.declareTaskType({ name, parameters_schema: schema, max_attempts: 5 });
      expect(created).toBe(true);
      expect(type).toMatchObject({ name, parameters_schema: schema, max_attempts: 5, is_active: true });
      expect(await engine.store.getTaskTypeByName(name)).toEqual(type);
    });

    it('leaves a type that already matches as it is, its version included', async () => {
      const name = uniqueName();
      const first = await engine.store.declareTaskType({ name, description: 'x', parameters_schema: schema });
      const again = await engine.store.declareTaskType({ name, description: 'x', parameters_schema: { required: ['to'], properties: { to: { type: 'string' } }, type: 'object' } });
      expect(again).toEqual({ type: first.type, created: false });
      expect(again.type.updated_at).toBeNull();
    });

    it('updates the fields that differ, and keeps a deactivated type inactive', async () => {
      const name = uniqueName();
      const { type } = await engine.store.declareTaskType({ name, parameters_schema: schema, metadata: { team: 'a' } });
      await engine.store.deactivateTaskType(type.id);
      const changed = await engine.store.declareTaskType({ name, parameters_schema: { type: 'object' }, metadata: { team: 'a' } });
      expect(changed.created).toBe(false);
      expect(changed.type).toMatchObject({ id: type.id, parameters_schema: { type: 'object' }, metadata: { team: 'a' }, is_active: false, updated_at: expect.any(String) });
    });

    it('registers a name once when several declare it at the same moment', async () => {
      const name = uniqueName();
      const results = await Promise.all(Array.from({ length: 6 }, () => engine.store.declareTaskType({ name, parameters_schema: schema })));
      expect(new Set(results.map(({ type }) => type.id)).size).toBe(1);
      expect(results.filter(({ created }) => created)).toHaveLength(1);
    });
  });
});
