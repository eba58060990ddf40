import { describe, expect, it } from 'vitest';
import { LeaseLostError, ValidationError } from '../errors.js';
import {
  cancelChanges,
  ftsQuery,
  searchWords,
  tsQuery,
  emptyHistogram,
  foldChanges,
  observe,
  percentile,
  summarizeStats,
  checkRetryPolicy,
  failChanges,
  formatToken,
  hashTokenSecret,
  leaseLost,
  manualStatusChanges,
  newTask,
  newTaskType,
  newTokenSecret,
  parseToken,
  retryChanges,
  retryDelaySeconds,
  secretMatches,
  transitionRefused,
} from './index.js';

const NOW = '2026-01-01T00:00:00.000Z';
const type = { retry_base_seconds: 5, retry_max_seconds: 60 };

describe('retryDelaySeconds', () => {
  it('doubles from the base per attempt, capped, between half and all of it', () => {
    expect([1, 2, 3, 4, 5].map((attempt) => retryDelaySeconds(type, attempt, () => 1))).toEqual([5, 10, 20, 40, 60]);
    expect([1, 2, 3, 4, 5].map((attempt) => retryDelaySeconds(type, attempt, () => 0))).toEqual([2.5, 5, 10, 20, 30]);
  });
});

describe('status changes', () => {
  it('sets started_at for running, completed_at for a finished status, and ends the lease', () => {
    expect(manualStatusChanges(undefined, NOW)).toEqual({});
    expect(manualStatusChanges('running', NOW)).toEqual({ started_at: NOW, lease_id: null, lease_expires_at: null });
    for (const status of ['completed', 'failed', 'cancelled'] as const) {
      expect(manualStatusChanges(status, NOW)).toEqual({ completed_at: NOW, lease_id: null, lease_expires_at: null });
    }
    expect(manualStatusChanges('pending', NOW)).toEqual({ lease_id: null, lease_expires_at: null });
  });

  it('cancels and retries', () => {
    expect(cancelChanges(NOW)).toEqual({ status: 'cancelled', completed_at: NOW, lease_expires_at: null });
    expect(retryChanges(NOW)).toEqual({ status: 'pending', attempts: 0, run_at: NOW, completed_at: null, lease_expires_at: null });
    expect(transitionRefused(7, 'completed', ['pending', 'running'], 'cancelled').message).toBe(
      'Task 7 is completed: only pending or running tasks can be cancelled',
    );
  });

  it('retries a failed attempt after the backoff while attempts remain and retry is asked, else fails it', () => {
    const retried = failChanges({ attempts: 1, max_attempts: 3 }, type, 'boom', true, NOW);
    expect(retried).toMatchObject({ status: 'pending', error_message: 'boom', lease_expires_at: null });
    const delay = (Date.parse(retried.run_at!) - Date.parse(NOW)) / 1000;
    expect(delay).toBeGreaterThanOrEqual(2.5);
    expect(delay).toBeLessThanOrEqual(5);
    expect(failChanges({ attempts: 3, max_attempts: 3 }, type, 'boom', true, NOW)).toEqual({
      status: 'failed',
      error_message: 'boom',
      completed_at: NOW,
      lease_expires_at: null,
    });
    expect(failChanges({ attempts: 1, max_attempts: 3 }, type, 'boom', false, NOW).status).toBe('failed');
  });

  it('says why a lease is lost', () => {
    const lease = { worker_id: 'w', lease_id: 'a' };
    expect(leaseLost(1, lease, { status: 'completed', lease_id: 'a' })).toBeInstanceOf(LeaseLostError);
    expect(leaseLost(1, lease, { status: 'completed', lease_id: 'a' }).message).toMatch(/it is completed$/);
    expect(leaseLost(1, lease, { status: 'running', lease_id: 'a' }).message).toMatch(/leased to another worker$/);
    expect(leaseLost(1, lease, { status: 'running', lease_id: 'b' }).message).toMatch(/taken over by a newer claim$/);
  });
});

describe('defaults', () => {
  it('gives a task priority 100, empty objects, now as run_at and its type’s attempts', () => {
    expect(newTask({ task_type_id: 2 }, { max_attempts: 4 }, NOW)).toEqual({
      task_type_id: 2,
      status: 'pending',
      parameters: {},
      priority: 100,
      metadata: {},
      created_at: NOW,
      run_at: NOW,
      max_attempts: 4,
      idempotency_key: null,
    });
    expect(newTask({ task_type_id: 2, delay_seconds: 30 }, { max_attempts: 4 }, NOW).run_at).toBe('2026-01-01T00:00:30.000Z');
  });

  it('gives a type 3 attempts, a 5 s base and a 3600 s cap', () => {
    expect(newTaskType({ name: 't' }, NOW)).toMatchObject({ max_attempts: 3, retry_base_seconds: 5, retry_max_seconds: 3600, is_active: true });
  });

  it('refuses a backoff cap below its base, counting current values for fields left out', () => {
    expect(() => checkRetryPolicy({ retry_base_seconds: 10, retry_max_seconds: 5 })).toThrow(ValidationError);
    expect(() => checkRetryPolicy({ retry_base_seconds: 100 }, { retry_base_seconds: 5, retry_max_seconds: 60 })).toThrow(/retry_max_seconds/);
    expect(() => checkRetryPolicy({ retry_max_seconds: 60 })).not.toThrow();
  });
});

describe('tokens', () => {
  it('formats, parses and checks tokens by the hash of their secret', () => {
    const secret = newTokenSecret();
    const token = formatToken(12, secret);
    expect(token).toMatch(/^pq_12_[\w-]{43}$/);
    expect(parseToken(token)).toEqual({ id: 12, secret });
    for (const bad of ['pq_12_short', `pq_x_${secret}`, `Bearer ${token}`, `${token}x`]) expect(parseToken(bad), bad).toBeUndefined();
    expect(secretMatches(secret, hashTokenSecret(secret))).toBe(true);
    expect(secretMatches(secret, hashTokenSecret(newTokenSecret()))).toBe(false);
    expect(secretMatches(secret, undefined)).toBe(false);
  });
});

describe('stats', () => {
  it('reads percentiles from histograms, within the bucket they fall in', () => {
    const histogram = emptyHistogram();
    for (let i = 0; i < 100; i++) observe(histogram, 7); // the bucket (5, 10]
    expect(percentile(histogram, 0.5)).toBeGreaterThan(5);
    expect(percentile(histogram, 0.5)).toBeLessThanOrEqual(10);
    observe(histogram, 90_000_000); // beyond a day: the unbounded bucket
    expect(percentile(histogram, 1)).toBe(86_400_000);
    expect(percentile(emptyHistogram(), 0.5)).toBeNull();
    observe(histogram, -5); // a clock a little behind counts as 0
    expect(histogram[0]).toBe(1);
  });

  it('folds claims into waits and the ends of attempts into counts and run times, by type and minute', () => {
    const rollups = foldChanges(
      [
        { task_type_id: 1, kind: 'claimed', at: '2026-01-01T00:00:10.000Z', status: 'running', run_at: '2026-01-01T00:00:09.000Z', claimed_at: null },
        { task_type_id: 1, kind: 'completed', at: '2026-01-01T00:00:12.000Z', status: 'completed', run_at: null, claimed_at: '2026-01-01T00:00:10.000Z' },
        { task_type_id: 1, kind: 'failed', at: '2026-01-01T00:01:00.000Z', status: 'pending', run_at: null, claimed_at: null },
        { task_type_id: 1, kind: 'lease_expired', at: '2026-01-01T00:01:30.000Z', status: 'failed', run_at: null, claimed_at: null },
        { task_type_id: 2, kind: 'created', at: '2026-01-01T00:01:30.000Z', status: 'pending', run_at: null, claimed_at: null },
      ],
      new Map(),
    );
    expect([...rollups.keys()]).toEqual(['1 2026-01-01T00:00', '1 2026-01-01T00:01']);
    const first = rollups.get('1 2026-01-01T00:00')!;
    expect(first).toMatchObject({ completed: 1, failed: 0, retried: 0 });
    expect(percentile(first.wait_hist, 0.5)).toBeGreaterThan(500);
    expect(percentile(first.wait_hist, 0.5)).toBeLessThanOrEqual(1000);
    expect(percentile(first.run_hist, 0.5)).toBeGreaterThan(1000);
    expect(rollups.get('1 2026-01-01T00:01')).toMatchObject({ completed: 0, failed: 1, retried: 1 });
  });

  it('sums the rollups into the last 60 minutes and 24 hours, zeros included', () => {
    const now = new Date('2026-01-01T12:30:30.000Z');
    const rollup = (minute: string, completed: number) => ({ task_type_id: 1, minute, completed, failed: 0, retried: 0, wait_hist: emptyHistogram(), run_hist: emptyHistogram() });
    const stats = summarizeStats(now, [{ id: 1, name: 'a', oldest_pending: '2026-01-01T12:30:00.000Z' }], [{ task_type: 'a', status: 'pending', count: 4 }], [
      rollup('2026-01-01T12:30', 1),
      rollup('2026-01-01T11:31', 2),
      rollup('2026-01-01T11:30', 4), // over an hour ago: in the day only
      rollup('2025-12-31T12:00', 8), // over a day ago: in neither
    ]);
    expect(stats.per_minute[59]).toMatchObject({ at: '2026-01-01T12:30:00.000Z', completed: 1 });
    expect(stats.per_minute[0]).toMatchObject({ at: '2026-01-01T11:31:00.000Z', completed: 2 });
    expect(stats.per_hour[23]).toMatchObject({ at: '2026-01-01T12:00:00.000Z', completed: 1 });
    expect(stats.per_hour[22]).toMatchObject({ at: '2026-01-01T11:00:00.000Z', completed: 6 });
    expect(stats.types[0]).toMatchObject({ task_type: 'a', oldest_pending_age_seconds: 30, last_hour: { completed: 3 } });
    expect(stats.types[0]!.counts).toEqual({ pending: 4, running: 0, completed: 0, failed: 0, cancelled: 0 });
  });
});

describe('search', () => {
  it('reads a query as its words: runs of letters and digits, in lower case, each once', () => {
    expect(searchWords('Bob@Example.com  bob "x" OR 42')).toEqual(['bob', 'example', 'com', 'x', 'or', '42']);
    expect(searchWords('Café naïve')).toEqual(['café', 'naïve']);
    // Nothing a user types reaches FTS5's or PostgreSQL's query syntax.
    expect(ftsQuery(searchWords('a" OR b* NEAR(c'))).toBe('"a" AND "or" AND "b" AND "near" AND "c"');
    expect(tsQuery(searchWords("x & !y | z:*'"))).toBe('x & y & z');
  });

  it('refuses a query without a word, or with too many', () => {
    expect(() => searchWords('  ..-- ')).toThrow(ValidationError);
    expect(() => searchWords(Array.from({ length: 17 }, (_, i) => `w${i}`).join(' '))).toThrow(/at most 16 words/);
  });
});
