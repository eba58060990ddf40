/**
 * POST /api/tasks/batch: 201 with the tasks in order, 422 naming the item and field (`tasks.<i>`),
 * the statuses of a type refused, and the bounds of a batch (1 to 1000). That a batch is all or
 * nothing is tested per engine in packages/db/src/contract/batch.test.ts.
 */
import type { Task } from '@prismq/db';
import { describe, expect, it } from 'vitest';
import { locs, useQueueServer } from './http-testing.js';

const api = useQueueServer();
const { newType, createTask, tasksOfType } = api;

describe('POST /api/tasks/batch', () => {
  it('creates all tasks with 201, in order', async () => {
    const type = await newType();
    const res = await api.request('POST', '/api/tasks/batch', {
      tasks: [0, 1, 2].map((n) => ({ task_type_id: type.id, parameters: { n } })),
    });
    expect(res.status).toBe(201);
    expect(res.body.map((t: Task) => t.parameters.n)).toEqual([0, 1, 2]);
  });

  it('rejects the whole batch with 422 naming the item when one item is malformed', async () => {
    const type = await newType();
    await createTask({ task_type_id: type.id });
    const res = await api.request('POST', '/api/tasks/batch', {
      tasks: [{ task_type_id: type.id }, { task_type_id: type.id }, { task_type_id: type.id, priority: 0 }],
    });
    expect(res.status).toBe(422);
    expect(locs(res)).toContainEqual(['body', 'tasks', 2, 'priority']);
    expect(await tasksOfType(type.id)).toHaveLength(1);
  });


  it('answers 422 naming each item whose parameters break the schema', async () => {
    const type = await newType({
      parameters_schema: { type: 'object', properties: { n: { type: 'integer' } }, required: ['n'] },
    });
    const res = await api.request('POST', '/api/tasks/batch', {
      tasks: [{ n: 1 }, { n: 'one' }, { n: 3 }, {}].map((parameters) => ({ task_type_id: type.id, parameters })),
    });
    expect(res.status).toBe(422);
    const found = locs(res);
    expect(found).toContainEqual(['body', 'tasks', 1, 'parameters', 'n']);
    expect(found).toContainEqual(['body', 'tasks', 3, 'parameters', 'n']);
  });

  it('answers 400 for an item of an inactive type and 404 for one of an unknown type, with a detail', async () => {
    const type = await newType();
    const retired = await newType();
    await api.request('DELETE', `/api/task-types/${retired.id}`);
    const inactive = await api.request('POST', '/api/tasks/batch', { tasks: [{ task_type_id: type.id }, { task_type_id: retired.id }] });
    expect(inactive.status).toBe(400);
    expect(inactive.body).toEqual({ detail: `Task type ${retired.id} is not active` });
    const unknown = await api.request('POST', '/api/tasks/batch', { tasks: [{ task_type_id: type.id }, { task_type_id: 987654 }] });
    expect(unknown.status).toBe(404);
    expect(unknown.body).toEqual({ detail: 'Task type 987654 not found' });
  });

  it('accepts 1000 tasks and rejects 1001 and an empty list', async () => {
    const type = await newType();
    const over = await api.request('POST', '/api/tasks/batch', {
      tasks: Array.from({ length: 1001 }, () => ({ task_type_id: type.id })),
    });
    expect(over.status).toBe(422);
    expect(locs(over)).toContainEqual(['body', 'tasks']);
    const empty = await api.request('POST', '/api/tasks/batch', { tasks: [] });
    expect(empty.status).toBe(422);
    expect(locs(empty)).toContainEqual(['body', 'tasks']);
    expect(await tasksOfType(type.id)).toHaveLength(0);

    const max = await api.request('POST', '/api/tasks/batch', {
      tasks: Array.from({ length: 1000 }, () => ({ task_type_id: type.id })),
    });
    expect(max.status).toBe(201);
    expect(max.body).toHaveLength(1000);
    expect(await tasksOfType(type.id)).toHaveLength(1000);
  });
});

