/**
 * Costly JSON Schema validation must not stall the server. Validating parameters, or checking a
 * new schema, can cost far more than the input's size suggests: `uniqueItems` compares every pair
 * of items, a huge `enum` or many `patternProperties` compile slowly, and a recursive `anyOf`
 * doubles its work with every level of nesting. The store runs that work in worker threads with a
 * time budget (1000 ms by default), outside any write transaction.
 *
 * These tests assert order, not durations: a request sent while a costly one is being worked on
 * answers before it.
 */
import type { ParameterValidator } from '@prismq/db';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { startTestServer, type TestResponse, type TestServer } from './testing.js';

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server.close());
afterEach(() => {
  vi.restoreAllMocks();
});

const BUDGET_MS = 1000; // the store's default

/** Resolves when the store's method is first called: the request has been read and is being worked on. */
function reached(method: 'createTask' | 'createTaskType'): Promise<void> {
  return new Promise((resolve) => {
    const original = server.store[method].bind(server.store) as (...args: unknown[]) => Promise<unknown>;
    vi.spyOn(server.store, method).mockImplementation(((...args: unknown[]) => {
      resolve();
      return original(...args);
    }) as never);
  });
}

/** Runs requests, recording the order in which their answers arrive. */
function inOrder() {
  const order: string[] = [];
  return {
    order,
    track: (name: string, response: Promise<TestResponse>) =>
      response.then((res) => {
        order.push(name);
        return res;
      }),
  };
}

async function createType(name: string, parameters_schema: Record<string, unknown> = {}): Promise<number> {
  const res = await server.request('POST', '/api/task-types', { name, parameters_schema });
  expect(res.status).toBe(201);
  return res.body.id;
}

/** 20,000 distinct objects under `uniqueItems`: every pair is compared (seconds of work). */
const UNIQUE_ITEMS_SCHEMA = { type: 'object', properties: { items: { type: 'array', uniqueItems: true, items: { type: 'object' } } } };
const distinctObjects = Array.from({ length: 20_000 }, (_, i) => ({ i }));

const overBudget = (what: string) => `${what} took longer than ${BUDGET_MS} ms; simplify the schema${what === 'validation' ? ' or the parameters' : ''}`;

describe('costly parameter validation', () => {
  let uniqueItemsType: number;
  beforeAll(async () => {
    uniqueItemsType = await createType('unique_items', UNIQUE_ITEMS_SCHEMA);
  });

  it('answers 422 naming the time budget, and answers /healthz meanwhile', async () => {
    const { order, track } = inOrder();
    const started = reached('createTask');
    const create = track('create', server.request('POST', '/api/tasks', { task_type_id: uniqueItemsType, parameters: { items: distinctObjects } }));
    await started;
    const health = track('healthz', server.request('GET', '/healthz'));

    const [created, healthz] = await Promise.all([create, health]);
    expect(order).toEqual(['healthz', 'create']);
    expect(healthz.status).toBe(200);
    expect(created.status).toBe(422);
    expect(created.body).toEqual({ detail: [{ loc: ['body', 'parameters'], msg: overBudget('validation'), type: 'schema.timeout' }] });
  });

  it('holds no write lock meanwhile: a create of another type completes first', async () => {
    const otherType = await createType('plain');
    const { order, track } = inOrder();
    const started = reached('createTask');
    const hostile = track('hostile', server.request('POST', '/api/tasks', { task_type_id: uniqueItemsType, parameters: { items: distinctObjects } }));
    await started;
    const other = track('other', server.request('POST', '/api/tasks', { task_type_id: otherType, parameters: { n: 1 } }));

    const [hostileRes, otherRes] = await Promise.all([hostile, other]);
    expect(order).toEqual(['other', 'hostile']);
    expect(otherRes.status).toBe(201);
    expect(hostileRes.status).toBe(422);
    // The costly create wrote nothing.
    const listed = await server.request('GET', `/api/tasks?task_type_id=${uniqueItemsType}`);
    expect(listed.body).toEqual([]);
  });

  it('reports a batch over its budget under tasks, and creates none of it', async () => {
    const plainType = await createType('plain_for_batch');
    const res = await server.request('POST', '/api/tasks/batch', {
      tasks: [
        { task_type_id: plainType },
        { task_type_id: uniqueItemsType, parameters: { items: distinctObjects } },
      ],
    });
    expect(res.status).toBe(422);
    expect(res.body).toEqual({ detail: [{ loc: ['body', 'tasks'], msg: overBudget('validation'), type: 'schema.timeout' }] });
    expect((await server.request('GET', `/api/tasks?task_type_id=${plainType}`)).body).toEqual([]);
  });

  it('stops a recursive anyOf that doubles its work with every level of nesting', async () => {
    // 203 bytes of schema: the first branch recurses, then fails; the second recurses again.
    const n = { anyOf: [
      { type: 'object', properties: { a: { $ref: '#/definitions/n' } }, required: ['x'] },
      { type: 'object', properties: { a: { $ref: '#/definitions/n' } } },
    ] };
    const typeId = await createType('recursive_any_of', { $ref: '#/definitions/n', definitions: { n } });
    let nested: Record<string, unknown> = {};
    for (let level = 0; level < 27; level++) nested = { a: nested }; // 2^27 branches: seconds of work

    const { order, track } = inOrder();
    const started = reached('createTask');
    const create = track('create', server.request('POST', '/api/tasks', { task_type_id: typeId, parameters: nested }));
    await started;
    const health = track('healthz', server.request('GET', '/healthz'));

    const [created] = await Promise.all([create, health]);
    expect(order).toEqual(['healthz', 'create']);
    expect(created.status).toBe(422);
    expect(created.body.detail).toEqual([expect.objectContaining({ loc: ['body', 'parameters'], type: 'schema.timeout' })]);
  });

  it('still validates cheap parameters, before and after a thread was stopped', async () => {
    const typeId = await createType('strict', { type: 'object', required: ['a'], properties: { a: { type: 'integer' } } });
    const bad = await server.request('POST', '/api/tasks', { task_type_id: typeId, parameters: { a: 'x' } });
    expect(bad.status).toBe(422);
    expect(bad.body.detail).toEqual([expect.objectContaining({ loc: ['body', 'parameters', 'a'], type: 'schema.type' })]);
    expect((await server.request('POST', '/api/tasks', { task_type_id: typeId, parameters: { a: 1 } })).status).toBe(201);
  });
});

describe('costly schemas at type creation', () => {
  it.each([
    ['an enum of 20,000 strings', { type: 'object', properties: { s: { enum: Array.from({ length: 20_000 }, (_, i) => `v${i}`) } } }],
    [
      '2,000 patternProperties',
      { type: 'object', patternProperties: Object.fromEntries(Array.from({ length: 2_000 }, (_, i) => [`^p${i}_`, { type: 'string' }])) },
    ],
  ])('answers 201 or 422 for %s, and answers /healthz first', async (name, parameters_schema) => {
    const { order, track } = inOrder();
    const started = reached('createTaskType');
    const create = track('create', server.request('POST', '/api/task-types', { name: `costly ${name}`, parameters_schema }));
    await started;
    const health = track('healthz', server.request('GET', '/healthz'));

    const [created] = await Promise.all([create, health]);
    expect(order).toEqual(['healthz', 'create']);
    expect([201, 422]).toContain(created.status);
    if (created.status === 422) {
      expect(created.body).toEqual({ detail: [{ loc: ['body', 'parameters_schema'], msg: overBudget('compiling the schema'), type: 'schema.timeout' }] });
    }
  });
});

describe('validation before the write', () => {
  /** Holds the store's first validation until `release()`, as if it took long. */
  function holdFirstValidation() {
    // Reached through the store's internals: no public way exists to hold a validation midway.
    const validator = (server.store as unknown as { validation: { validator: ParameterValidator } }).validation.validator;
    const original = validator.problems.bind(validator);
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let entered!: () => void;
    const holding = new Promise<void>((resolve) => (entered = resolve));
    const spy = vi.spyOn(validator, 'problems').mockImplementation(async (...args) => {
      if (spy.mock.calls.length === 1) {
        entered();
        await released;
      }
      return original(...args);
    });
    return { spy, holding, release };
  }

  it.each([
    ['rejects parameters that the type, changed meanwhile, no longer accepts', { type: 'object' }, { type: 'object', required: ['a'] }, 422],
    ['accepts parameters that the type, changed meanwhile, now accepts', { type: 'object', required: ['a'] }, { type: 'object' }, 201],
  ])('validates again when the type changes between validation and write: %s', async (_case, before, after, status) => {
    const typeId = await createType(`changing ${status}`, before);
    const { spy, holding, release } = holdFirstValidation();
    const create = server.request('POST', '/api/tasks', { task_type_id: typeId, parameters: { b: 1 } });
    await holding;
    expect((await server.request('PUT', `/api/task-types/${typeId}`, { parameters_schema: after })).status).toBe(200);
    release();

    const res = await create;
    expect(res.status).toBe(status);
    if (status === 422) expect(res.body.detail).toEqual([expect.objectContaining({ loc: ['body', 'parameters', 'a'] })]);
    expect(spy).toHaveBeenCalledTimes(2);
  });

  it('answers a repeated create with the first task without validating its parameters again', async () => {
    const typeId = await createType('idempotent', { type: 'object', required: ['a'] });
    const first = await server.request('POST', '/api/tasks', { task_type_id: typeId, parameters: { a: 1 }, idempotency_key: 'once' });
    expect(first.status).toBe(201);
    const again = await server.request('POST', '/api/tasks', { task_type_id: typeId, parameters: {}, idempotency_key: 'once' });
    expect(again.status).toBeLessThan(300);
    expect(again.body.id).toBe(first.body.id);

    // In a batch, a later item with the key of an earlier one is answered by the earlier one's task.
    const batch = await server.request('POST', '/api/tasks/batch', {
      tasks: [
        { task_type_id: typeId, parameters: { a: 2 }, idempotency_key: 'twice' },
        { task_type_id: typeId, parameters: {}, idempotency_key: 'twice' },
      ],
    });
    expect(batch.status).toBe(201);
    expect(batch.body.map((task: { id: number }) => task.id)).toEqual([batch.body[0].id, batch.body[0].id]);
  });
});
