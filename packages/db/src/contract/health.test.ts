/** The store's own state: it answers, it is ready, and it closes cleanly. */
import { describe, expect, it } from 'vitest';
import { forEachEngine } from './engines.js';
import { newTask, newType } from './fixtures.js';

forEachEngine((engine) => {
  describe('health', () => {
    it('pings and is healthy when open and migrated', async () => {
      expect(await engine.store.ping()).toBe(true);
      expect(await engine.store.health()).toEqual({ ok: true });
    });

    it('closes with nothing to report once its writes are done', async () => {
      const store = await engine.fresh();
      const type = await newType(store);
      await newTask(store, type);
      expect(await store.close()).toEqual({});
    });
  });
});
