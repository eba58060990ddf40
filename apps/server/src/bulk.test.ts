/**
 * Bulk retry, cancel and delete over HTTP: by ids, by a filter, bounded, answering how many
 * changed; 422 for a call that names no task. What the store does is tested per engine in
 * packages/db/src/contract (bulk).
 */
import type { Task } from '@prismq/db';
import { describe, expect, it } from 'vitest';
import { locs, useQueueServer } from './http-testing.js';

const api = useQueueServer();
const { newType, createTask } = api;

const statuses = async (typeId: number) => (await api.tasksOfType(typeId)).map((task: Task) => task.status).sort();

describe('POST /api/tasks/bulk/…', () => {
  it('retries failed and cancelled tasks by ids, leaving the others', async () => {
    const type = await newType();
    const [a, b, c] = [await createTask({ task_type_id: type.id }), await createTask({ task_type_id: type.id }), await createTask({ task_type_id: type.id })];
    await api.request('PUT', `/api/tasks/${a.id}`, { status: 'failed' });
    await api.request('POST', `/api/tasks/${b.id}/cancel`);
    const res = await api.request('POST', '/api/tasks/bulk/retry', { ids: [a.id, b.id, c.id] });
    expect(res.status, res.text).toBe(200);
    expect(res.body).toEqual({ changed: 2, more: false });
    expect(await api.getTask(a.id)).toMatchObject({ status: 'pending', attempts: 0 });
    expect(await statuses(type.id)).toEqual(['pending', 'pending', 'pending']);
  });

  it('cancels by a filter, at most limit per call, saying whether more matched', async () => {
    const type = await newType();
    for (let i = 0; i < 5; i++) await createTask({ task_type_id: type.id, metadata: { batch: i < 4 ? 'b7' : 'b8' } });
    const filter = { task_type: type.name, metadata_key: 'batch', metadata_value: 'b7' };
    const first = await api.request('POST', '/api/tasks/bulk/cancel', { filter, limit: 3 });
    expect(first.body).toEqual({ changed: 3, more: true });
    const second = await api.request('POST', '/api/tasks/bulk/cancel', { filter, limit: 3 });
    expect(second.body).toEqual({ changed: 1, more: false });
    expect(await statuses(type.id)).toEqual(['cancelled', 'cancelled', 'cancelled', 'cancelled', 'pending']);
    // The same through tRPC.
    const trpc = await api.request('POST', '/trpc/tasks.bulkRetry', { filter: { task_type_id: type.id, status: ['cancelled'] } });
    expect(trpc.body.result.data).toEqual({ changed: 4, more: false });
  });

  it('deletes by a filter in any status', async () => {
    const type = await newType();
    const doomed = await createTask({ task_type_id: type.id });
    await api.request('POST', `/api/tasks/${doomed.id}/cancel`);
    await createTask({ task_type_id: type.id });
    const res = await api.request('POST', '/api/tasks/bulk/delete', { filter: { task_type_id: type.id } });
    expect(res.body).toEqual({ changed: 2, more: false });
    expect(await api.tasksOfType(type.id)).toEqual([]);
    expect((await api.request('GET', `/api/tasks/${doomed.id}`)).status).toBe(404);
  });

  it.each([
    ['no ids and no filter', {}, [['body', 'filter']]],
    ['an empty filter', { filter: {} }, [['body', 'filter']]],
    ['a misspelt condition', { filter: { task_type_id: 1, stauts: 'failed' } }, [['body', 'filter']]],
    ['a bad time', { filter: { finished_before: 'last week' } }, [['body', 'filter', 'finished_before']]],
    ['too many ids', { ids: Array.from({ length: 1001 }, (_, i) => i + 1) }, [['body', 'ids']]],
    ['a limit over 1000', { ids: [1], limit: 1001 }, [['body', 'limit']]],
  ])('answers 422 for %s, changing nothing', async (_what, body, expected) => {
    const type = await newType();
    await createTask({ task_type_id: type.id });
    const res = await api.request('POST', '/api/tasks/bulk/delete', body);
    expect(res.status, res.text).toBe(422);
    expect(locs(res)).toEqual(expected);
    expect(await api.tasksOfType(type.id)).toHaveLength(1);
  });
});
