import { describe, expect, it } from 'vitest';
import { LeaseLostError, ValidationError } from '../errors.js';
import {
  cancelChanges,
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
