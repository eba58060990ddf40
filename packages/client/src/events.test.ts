/**
 * The typed client's live events (tasks.events through httpSubscriptionLink, with the token as a
 * header) and waitForResult, against a real server with authentication on.
 */
import { startTestServer, type TestServer } from '@prismq/server/testing';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createPrismqClient, waitForResult, WaitTimeoutError, type PrismqClient, type TaskChange } from './index.js';

let server: TestServer;
let admin: PrismqClient;
let reader: PrismqClient;
beforeAll(async () => {
  server = await startTestServer({ auth: 'on' });
  admin = createPrismqClient({ url: server.url, token: (await server.store.createToken('admin', ['admin'])).token });
  reader = createPrismqClient({ url: server.url, token: (await server.store.createToken('reader', ['read'])).token });
});
afterAll(() => server.close());

describe('the typed client', () => {
  it('waitForResult returns the task once it is completed', async () => {
    const type = await admin.taskTypes.create.mutate({ name: 'wait_for_result' });
    const task = await admin.tasks.create.mutate({ task_type_id: type.id });
    const result = waitForResult(reader, task.id, { timeoutMs: 20_000 });
    const [claimed] = await admin.tasks.claim.mutate({ worker_id: 'w', task_type_ids: [type.id] });
    await admin.tasks.complete.mutate({ task_id: task.id, worker_id: 'w', lease_id: claimed!.lease_id!, result: { answer: 42 } });
    await expect(result).resolves.toMatchObject({ id: task.id, status: 'completed', result: { answer: 42 } });
  });

  it('waitForResult gives up after timeoutMs with a WaitTimeoutError', async () => {
    const type = await admin.taskTypes.create.mutate({ name: 'never_done' });
    const task = await admin.tasks.create.mutate({ task_type_id: type.id });
    const error = await waitForResult(reader, task.id, { timeoutMs: 500 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WaitTimeoutError);
    expect((error as WaitTimeoutError).task).toMatchObject({ id: task.id, status: 'pending' });
  });

  it('subscribes to live events with a read token, each with its id', async () => {
    const type = await admin.taskTypes.create.mutate({ name: 'live' });
    const received: { id: string; data: TaskChange }[] = [];
    let started!: () => void;
    const connected = new Promise<void>((resolve) => (started = resolve));
    const subscription = reader.tasks.events.subscribe(
      { task_type_ids: [type.id] },
      { onStarted: () => started(), onData: (event) => received.push(event), onError: (error) => received.push({ id: 'error', data: error as never }) },
    );
    await connected;
    const task = await admin.tasks.create.mutate({ task_type_id: type.id });
    await admin.tasks.cancel.mutate({ task_id: task.id });
    await vi.waitFor(() => expect(received.map((event) => event.data.kind)).toEqual(['created', 'cancelled']), { timeout: 10_000, interval: 20 });
    for (const event of received) expect(event.id).toBe(event.data.id);
    subscription.unsubscribe();
  });

  it('resumes after its connection is cut, from the last event it got: nothing missed, nothing twice', async () => {
    const type = await admin.taskTypes.create.mutate({ name: 'live_cut' });
    const received: TaskChange[] = [];
    const errors: unknown[] = [];
    let started!: () => void;
    const connected = new Promise<void>((resolve) => (started = resolve));
    const subscription = reader.tasks.events.subscribe(
      { task_type_ids: [type.id] },
      { onStarted: () => started(), onData: (event) => received.push(event.data), onError: (error) => errors.push(error) },
    );
    await connected;
    const first = await admin.tasks.create.mutate({ task_type_id: type.id });
    await vi.waitFor(() => expect(received).toHaveLength(1), { timeout: 10_000, interval: 20 });
    // The server cuts every connection; changes made meanwhile must reach the client once it is back.
    server.app.server.closeAllConnections();
    const second = await admin.tasks.create.mutate({ task_type_id: type.id });
    await admin.tasks.cancel.mutate({ task_id: first.id });
    await vi.waitFor(
      () => expect(received.map((change) => `${change.task_id}:${change.kind}`)).toEqual([`${first.id}:created`, `${second.id}:created`, `${first.id}:cancelled`]),
      { timeout: 15_000, interval: 20 },
    );
    expect(new Set(received.map((change) => change.id)).size).toBe(received.length);
    expect(errors).toEqual([]);
    subscription.unsubscribe();
  });
});
