import { describe, expect, it } from 'vitest';
import { ValidationError } from '../errors.js';
import {
  CANCELLABLE,
  MAX_LIST_BYTES,
  RETRYABLE,
  cutPage,
  decodeCursor,
  encodeCursor,
  hasConditions,
  mergeWalks,
  nextCursor,
  normalizeFilter,
  normalizeMatch,
  normalizeSelection,
  walksOf,
} from './index.js';

const T = '2026-01-01T00:00:00.000Z';
const row = (id: number, created_at = T, priority = 100, run_at = T, bytes = 500) => ({ id, created_at, priority, run_at, bytes });

/** The problems' paths of the ValidationError that `run` throws. */
function pathsThrown(run: () => unknown): unknown[] {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(ValidationError);
    return (error as ValidationError).problems.map((problem) => problem.path);
  }
  throw new Error('expected a ValidationError');
}

describe('cursors', () => {
  it('give back the key they were made of, for their own sort', () => {
    const cursor = encodeCursor('priority', [5, T, 42]);
    expect(cursor).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(decodeCursor(cursor, 'priority')).toEqual([5, T, 42]);
    expect(decodeCursor(encodeCursor('newest', [T, 7]), 'newest')).toEqual([T, 7]);
  });

  it('are refused, at `cursor`, when garbled, forged with bad values, or of another sort', () => {
    const forged = (body: unknown) => Buffer.from(JSON.stringify(body)).toString('base64url');
    for (const cursor of ['', 'not a cursor', '%%%', forged({ s: 'newest', k: [T] }), forged({ s: 'newest', k: ['2026-01-01', 1] }), forged({ s: 'newest', k: [T, -1] }), forged({ s: 'size', k: [1, 2] }), forged([1, 2])]) {
      expect(pathsThrown(() => decodeCursor(cursor, 'newest')), cursor).toEqual([['cursor']]);
    }
    expect(() => decodeCursor(encodeCursor('oldest', [T, 1]), 'newest')).toThrow(/sort 'oldest', not of 'newest'/);
  });

  it('point after the last row of a page only when more may follow', () => {
    expect(nextCursor(row(3), 'oldest', true)).toBe(encodeCursor('oldest', [T, 3]));
    expect(nextCursor(row(3), 'oldest', false)).toBeNull();
    expect(nextCursor(undefined, 'oldest', true)).toBeNull();
  });
});

describe('walks and pages', () => {
  it('walk each status on its own when statuses are named, and for the sorts whose indexes lead with the status', () => {
    expect(walksOf(['failed', 'cancelled'], 'newest')).toEqual(['failed', 'cancelled']);
    expect(walksOf(undefined, 'newest')).toEqual([undefined]);
    expect(walksOf(undefined, 'oldest')).toEqual([undefined]);
    expect(walksOf(undefined, 'priority')).toEqual(['pending', 'running', 'completed', 'failed', 'cancelled']);
    expect(walksOf([], 'run_at')).toEqual([]);
  });

  it('merge walks in the sort order, ties by id, and keep `take` rows', () => {
    const later = '2026-01-02T00:00:00.000Z';
    const a = [row(5, later), row(1, T)];
    const b = [row(4, later), row(3, T)];
    expect(mergeWalks([a, b], 'newest', 3).map((r) => r.id)).toEqual([5, 4, 3]);
    const p = [row(1, T, 1, later), row(2, T, 2, T)];
    const q = [row(3, T, 1, T), row(4, T, 3, T)];
    expect(mergeWalks([p, q], 'priority', 10).map((r) => r.id)).toEqual([3, 1, 2, 4]);
  });

  it('cut a page at `limit` or before the row that passes MAX_LIST_BYTES, always holding one', () => {
    expect(cutPage([row(1), row(2), row(3)], 2)).toEqual({ page: [row(1), row(2)], more: true });
    expect(cutPage([row(1), row(2)], 2)).toEqual({ page: [row(1), row(2)], more: false });
    const big = (id: number) => row(id, T, 100, T, MAX_LIST_BYTES / 2);
    expect(cutPage([big(1), big(2), big(3)], 10).page.map((r) => r.id)).toEqual([1, 2]);
    expect(cutPage([row(1, T, 100, T, MAX_LIST_BYTES * 2), row(2)], 10)).toEqual({ page: [row(1, T, 100, T, MAX_LIST_BYTES * 2)], more: true });
    expect(cutPage([], 10)).toEqual({ page: [], more: false });
  });
});

describe('filters', () => {
  it('are normalised: statuses as a list in their order, times in UTC to the millisecond', () => {
    expect(normalizeMatch({ status: ['failed', 'pending', 'failed'], created_after: '2026-01-01T02:00:00+02:00' })).toEqual({
      statuses: ['pending', 'failed'],
      created_after: T,
    });
    expect(normalizeMatch({ status: 'running' })).toEqual({ statuses: ['running'] });
  });

  it('refuse bad times and a metadata key without a value, under the place given', () => {
    expect(pathsThrown(() => normalizeMatch({ updated_before: 'tomorrow', metadata_value: 'x' }, ['filter']))).toEqual([
      ['filter', 'updated_before'],
      ['filter', 'metadata_key'],
    ]);
  });

  it("fold the bound where a sort starts into the cursor's key", () => {
    const later = '2026-01-05T00:00:00.000Z';
    // Oldest first from a cursor before created_after: the bound is where the walk starts.
    expect(normalizeFilter({ limit: 1, sort: 'oldest', created_after: later, cursor: encodeCursor('oldest', [T, 9]) })).toMatchObject({
      match: {},
      after: [later, 0],
    });
    // From a cursor past it: the cursor is.
    expect(normalizeFilter({ limit: 1, sort: 'oldest', created_after: T, cursor: encodeCursor('oldest', [later, 9]) })).toMatchObject({ match: {}, after: [later, 9] });
    expect(normalizeFilter({ limit: 1, sort: 'newest', created_before: T, cursor: encodeCursor('newest', [later, 9]) })).toMatchObject({ match: {}, after: [T, 0] });
    expect(normalizeFilter({ limit: 1, sort: 'priority', priority_min: 7, cursor: encodeCursor('priority', [3, T, 9]) })).toMatchObject({ after: [7, '', 0] });
    // Without a cursor the bound stays a condition.
    expect(normalizeFilter({ limit: 1, sort: 'oldest', created_after: T })).toMatchObject({ match: { created_after: T }, after: undefined });
  });
});

describe('bulk selections', () => {
  it('need ids or a condition', () => {
    expect(hasConditions({})).toBe(false);
    expect(hasConditions({ worker_id: 'w' })).toBe(true);
    expect(pathsThrown(() => normalizeSelection({ limit: 10 }, RETRYABLE))).toEqual([['filter']]);
    expect(pathsThrown(() => normalizeSelection({ ids: [], limit: 10 }, RETRYABLE))).toEqual([['ids']]);
  });

  it("narrow the statuses to those the action may change, and are empty when none is left", () => {
    expect(normalizeSelection({ ids: [3, 3, 4], limit: 10 }, CANCELLABLE)).toEqual({ match: { ids: [3, 4], statuses: ['pending', 'running'] }, limit: 10, empty: false });
    expect(normalizeSelection({ filter: { status: ['failed', 'pending'] }, limit: 5000 }, RETRYABLE)).toEqual({ match: { statuses: ['failed'] }, limit: 1000, empty: false });
    expect(normalizeSelection({ filter: { status: 'completed' }, limit: 1 }, RETRYABLE).empty).toBe(true);
    expect(normalizeSelection({ filter: { task_type_id: 1 }, limit: 1 }, undefined)).toEqual({ match: { task_type_id: 1 }, limit: 1, empty: false });
  });
});
