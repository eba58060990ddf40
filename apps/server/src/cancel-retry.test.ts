/**
 * Cancel and retry over HTTP: no body needed, 409 with a detail for a move the task's status does
 * not allow, 404 for a missing task. What cancel and retry do is tested per engine in
 * packages/db/src/contract (cancel-retry and errors).
 */
import { describe, expect, it } from 'vitest';
import { ISO_UTC, useQueueServer } from './http-testing.js';

const api = useQueueServer();
const { newType, createTask } = api;

describe('cancel and retry', () => {
  it('cancels a pending task, with no body and no content type', async () => {
    const type = await newType();
    const task = await createTask({ task_type_id: type.id });
    const res = await api.request('POST', `/api/tasks/${task.id}/cancel`);
    expect(res.status, res.text).toBe(200);
    expect(res.body).toMatchObject({ id: task.id, status: 'cancelled', completed_at: expect.stringMatching(ISO_UTC) });
    const retried = await api.request('POST', `/api/tasks/${task.id}/retry`);
    expect(retried.status, retried.text).toBe(200);
    expect(retried.body).toMatchObject({ id: task.id, status: 'pending', attempts: 0 });
  });

  it('accepts an empty JSON object as the body too', async () => {
    const type = await newType();
    const task = await createTask({ task_type_id: type.id });
    expect((await api.request('POST', `/api/tasks/${task.id}/cancel`, {})).status).toBe(200);
    expect((await api.request('POST', `/api/tasks/${task.id}/retry`, {})).status).toBe(200);
  });

  it('answers 409 with a detail for a move the status does not allow, and 404 for a missing task', async () => {
    const type = await newType();
    const task = await createTask({ task_type_id: type.id });
    const retryPending = await api.request('POST', `/api/tasks/${task.id}/retry`);
    expect(retryPending.status).toBe(409);
    expect(retryPending.body).toEqual({ detail: `Task ${task.id} is pending: only failed or cancelled tasks can be retried` });
    expect((await api.request('POST', `/api/tasks/${task.id}/cancel`)).status).toBe(200);
    const twice = await api.request('POST', `/api/tasks/${task.id}/cancel`);
    expect(twice.status).toBe(409);
    expect(twice.body).toEqual({ detail: `Task ${task.id} is cancelled: only pending or running tasks can be cancelled` });

    expect((await api.request('POST', '/api/tasks/999999/cancel')).status).toBe(404);
    expect((await api.request('POST', '/api/tasks/999999/retry')).status).toBe(404);
  });
});
