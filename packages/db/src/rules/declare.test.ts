import { describe, expect, it } from 'vitest';
import type { TaskType } from '../types.js';
import { declaredChanges, jsonEqual } from './declare.js';

const stored: TaskType = {
  id: 1,
  name: 'send_email',
  description: 'Sends one email',
  parameters_schema: { type: 'object', properties: { to: { type: 'string' }, cc: { type: 'array', items: { type: 'string' } } }, required: ['to'] },
  metadata: { team: 'mail' },
  is_active: true,
  created_at: '2026-01-01T00:00:00.000Z',
  updated_at: null,
  max_attempts: 3,
  retry_base_seconds: 5,
  retry_max_seconds: 3600,
};

describe('jsonEqual', () => {
  it('compares objects whatever the order of their keys, and arrays item by item', () => {
    expect(jsonEqual({ a: 1, b: [1, { c: null }] }, { b: [1, { c: null }], a: 1 })).toBe(true);
    expect(jsonEqual([1, 2], [2, 1])).toBe(false);
    expect(jsonEqual({ a: 1 }, { a: 1, b: undefined })).toBe(false);
    expect(jsonEqual({ a: [] }, { a: {} })).toBe(false);
    expect(jsonEqual(null, {})).toBe(false);
    expect(jsonEqual('1', 1)).toBe(false);
  });
});

describe('declaredChanges', () => {
  it('is undefined when the declaration matches, with its schema written in another key order', () => {
    const schema = { required: ['to'], properties: { cc: { items: { type: 'string' }, type: 'array' }, to: { type: 'string' } }, type: 'object' };
    expect(declaredChanges(stored, { name: 'send_email', parameters_schema: schema, metadata: { team: 'mail' }, max_attempts: 3 })).toBeUndefined();
  });

  it('does not compare the fields left out of the declaration', () => {
    expect(declaredChanges(stored, { name: 'send_email' })).toBeUndefined();
  });

  it('gives only the fields that differ', () => {
    expect(declaredChanges(stored, { name: 'send_email', description: 'Sends one email', max_attempts: 5, metadata: { team: 'growth' } })).toEqual({
      max_attempts: 5,
      metadata: { team: 'growth' },
    });
    expect(declaredChanges(stored, { name: 'send_email', description: null })).toEqual({ description: null });
  });
});
