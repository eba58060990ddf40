import { describe, expect, it } from 'vitest';
import { ValidationError } from '../errors.js';
import { postgresTestUrl, usePostgresStores } from '../testing/postgres.js';

describe.skipIf(!postgresTestUrl())('tasks on PostgreSQL', () => {
  const stores = usePostgresStores();

  it('create one task for concurrent creates with one idempotency key through two stores', async () => {
    const [a, b] = [await stores.open({ poolSize: 6 }), await stores.open({ poolSize: 6 })];
    const type = await a.createTaskType({ name: 'once' });
    await b.getTaskType(type.id); // both know the type: both try the one-statement create
    const results = await Promise.all(Array.from({ length: 12 }, (_, i) => (i % 2 ? a : b).createTask({ task_type_id: type.id, idempotency_key: 'order-7' })));
    expect(new Set(results.map(({ task }) => task.id)).size).toBe(1);
    expect(results.filter(({ created }) => created)).toHaveLength(1);
    expect(await a.listTasks({ task_type_id: type.id, limit: 100 })).toHaveLength(1);
  });

  it('validate against a type changed by another store since this one read it', async () => {
    const [a, b] = [await stores.open(), await stores.open()];
    const type = await a.createTaskType({ name: 'changing', parameters_schema: { type: 'object', required: ['to'] } });
    expect((await a.createTask({ task_type_id: type.id, parameters: { to: 'x' } })).created).toBe(true);
    await b.updateTaskType(type.id, { parameters_schema: { type: 'object', required: ['n'] } });
    // `a` still remembers the first schema: the write sees the type changed, and validates again.
    const error = await a.createTask({ task_type_id: type.id, parameters: { to: 'x' } }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).problems.map((p) => p.path)).toEqual([['parameters', 'n']]);
    expect((await a.createTask({ task_type_id: type.id, parameters: { n: 1 } })).created).toBe(true);
    // Deactivated elsewhere: refused here too.
    await b.deactivateTaskType(type.id);
    await expect(a.createTask({ task_type_id: type.id, parameters: { n: 1 } })).rejects.toThrow(`Task type ${type.id} is not active`);
  });

  it('give JSON back as it was given, key order included', async () => {
    const store = await stores.open();
    const type = await store.createTaskType({ name: 'json', metadata: { z: 1, a: [{ y: 1, b: 2 }] } });
    const parameters = { zeta: 1, alpha: { z: null, a: 'é\u2028' }, mid: [3, 2, 1] };
    const { task } = await store.createTask({ task_type_id: type.id, parameters, metadata: { b: true, a: false } });
    const read = await store.getTask(task.id);
    expect(JSON.stringify(read.parameters)).toBe(JSON.stringify(parameters));
    expect(Object.keys(read.metadata)).toEqual(['b', 'a']);
    expect(JSON.stringify((await store.getTaskType(type.id)).metadata)).toBe('{"z":1,"a":[{"y":1,"b":2}]}');
    const [claimed] = await store.claimTasks({ worker_id: 'w', task_type_ids: [type.id], limit: 1, lease_seconds: 60 });
    expect(JSON.stringify(claimed!.parameters)).toBe(JSON.stringify(parameters));
    const done = await store.completeTask(task.id, { worker_id: 'w', lease_id: claimed!.lease_id! }, { y: 2, x: [1] });
    expect(JSON.stringify(done.result)).toBe('{"y":2,"x":[1]}');
  });
});
