/** API tokens: created once with their secret shown, listed without it, revoked, verified, and never forgotten. */
import { describe, expect, it, vi } from 'vitest';
import { ConflictError, NotFoundError } from '../errors.js';
import { forEachEngine } from './engines.js';
import { ISO_UTC, rejection, WAIT } from './fixtures.js';

forEachEngine((engine) => {
  describe('tokens', () => {
    it('are created with a secret shown once, listed without it, and verified by it', async () => {
      const store = await engine.fresh();
      const { token, record } = await store.createToken('billing', ['producer', 'read']);
      expect(token).toMatch(new RegExp(`^pq_${record.id}_[\\w-]{43}$`));
      expect(record).toEqual({
        id: expect.any(Number),
        name: 'billing',
        scopes: ['producer', 'read'],
        created_at: expect.stringMatching(ISO_UTC),
        revoked_at: null,
        last_used_at: null,
      });
      const other = await store.createToken('ops', ['admin']);
      expect(await store.listTokens()).toEqual([record, other.record]);

      expect(await store.verifyToken(token)).toEqual(record);
      expect(await store.verifyToken(other.token)).toEqual(other.record);
      // A wrong secret for a real id, an unknown id, and anything that is not a token: none.
      const wrongSecret = `pq_${record.id}_${'A'.repeat(43)}`;
      for (const bad of [wrongSecret, `pq_987654_${token.slice(-43)}`, 'garbage', '', `Bearer ${token}`]) {
        expect(await store.verifyToken(bad), bad).toBeUndefined();
      }
    });

    it('record when they were last used', async () => {
      const store = await engine.fresh();
      const { token, record } = await store.createToken('used', ['read']);
      await store.verifyToken(token);
      await vi.waitFor(async () => {
        const [listed] = await store.listTokens();
        expect(listed).toEqual({ ...record, last_used_at: expect.stringMatching(ISO_UTC) });
      }, WAIT);
    });

    it('are revoked by name or id, once for good, and no longer verify', async () => {
      const store = await engine.fresh();
      const byName = await store.createToken('by-name', ['worker']);
      const byId = await store.createToken('by-id', ['worker']);
      const revoked = await store.revokeToken('by-name');
      expect(revoked).toEqual({ ...byName.record, revoked_at: expect.stringMatching(ISO_UTC) });
      expect(await store.revokeToken(String(byId.record.id))).toMatchObject({ name: 'by-id', revoked_at: expect.stringMatching(ISO_UTC) });
      expect(await store.verifyToken(byName.token)).toBeUndefined();
      expect(await store.verifyToken(byId.token)).toBeUndefined();
      // Revoking again keeps it revoked.
      expect((await store.revokeToken('by-name')).revoked_at).toEqual(expect.stringMatching(ISO_UTC));
      expect((await store.listTokens()).map((token) => token.revoked_at === null)).toEqual([false, false]);
    });

    it('exist, for hasTokens, from the first one created, even once all are revoked', async () => {
      const store = await engine.fresh();
      expect(await store.hasTokens()).toBe(false);
      await store.createToken('only', ['admin']);
      expect(await store.hasTokens()).toBe(true);
      await store.revokeToken('only');
      expect(await store.hasTokens()).toBe(true);
    });

    it('refuse a name that is taken and a revoke of a token that does not exist', async () => {
      const store = await engine.fresh();
      await store.createToken('taken', ['read']);
      const taken = await rejection(store.createToken('taken', ['admin']));
      expect(taken).toBeInstanceOf(ConflictError);
      expect(taken.message).toBe("A token named 'taken' already exists");
      const missing = await rejection(store.revokeToken('nobody'));
      expect(missing).toBeInstanceOf(NotFoundError);
      expect(missing.message).toBe("Token 'nobody' not found");
      expect(await rejection(store.revokeToken('987654'))).toBeInstanceOf(NotFoundError);
    });
  });
});
