/**
 * Errors as values: each case the API answers reaches the program as its own PrismqError class,
 * with the HTTP status and the server's detail, over real HTTP against a real server.
 */
import { renameSync } from 'node:fs';
import { createServer } from 'node:net';
import { startTestServer, testEngine, type TestServer } from '@prismq/server/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ConflictError,
  ConnectionError,
  createPrismqClient,
  ForbiddenError,
  InvalidStateError,
  LeaseLostError,
  NotFoundError,
  PrismqError,
  RateLimitedError,
  TRPCClientError,
  UnauthorizedError,
  UnavailableError,
  ValidationError,
  errorInfo,
  type PrismqClient,
} from './index.js';

let server: TestServer;
let client: PrismqClient;
beforeAll(async () => {
  server = await startTestServer({ maxLongPolls: 1 });
  client = createPrismqClient({ url: server.url });
});
afterAll(() => server?.close());

/** The error a call fails with. */
async function failure(call: Promise<unknown>): Promise<PrismqError> {
  const error = await call.then(
    () => expect.unreachable('the call should have failed'),
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(PrismqError);
  return error as PrismqError;
}

describe('errors of the typed client', () => {
  it('not found, conflict, invalid state and validation: each its class, status and detail', async () => {
    const missing = await failure(client.tasks.get.query({ task_id: 987_654 }));
    expect(missing).toBeInstanceOf(NotFoundError);
    expect(missing).toMatchObject({ kind: 'not_found', status: 404, detail: 'Task 987654 not found', name: 'NotFoundError' });
    // Still a tRPC error, so errorInfo and code written for plain tRPC errors go on working.
    expect(missing).toBeInstanceOf(TRPCClientError);
    expect(errorInfo(missing)).toEqual({ code: 'NOT_FOUND', httpStatus: 404, detail: 'Task 987654 not found' });

    const type = await client.taskTypes.create.mutate({ name: 'errors_case' });
    const taken = await failure(client.taskTypes.create.mutate({ name: 'errors_case' }));
    expect(taken).toBeInstanceOf(ConflictError);
    expect(taken).not.toBeInstanceOf(LeaseLostError);
    expect(taken).toMatchObject({ kind: 'conflict', status: 409 });

    const invalid = await failure(client.tasks.create.mutate({ task_type_id: type.id, priority: 0 }));
    expect(invalid).toBeInstanceOf(ValidationError);
    expect((invalid as ValidationError).problems).toEqual([expect.objectContaining({ loc: ['input', 'priority'] })]);
    expect(invalid.status).toBe(422);

    await client.taskTypes.delete.mutate({ task_type_id: type.id });
    const inactive = await failure(client.tasks.create.mutate({ task_type_id: type.id }));
    expect(inactive).toBeInstanceOf(InvalidStateError);
    expect(inactive).toMatchObject({ kind: 'invalid_state', status: 400 });
    expect(inactive.detail).toMatch(/not active/);
  });

  it('lease lost: a LeaseLostError (a ConflictError), told apart from other conflicts', async () => {
    const type = await client.taskTypes.create.mutate({ name: 'errors_lease' });
    const task = await client.tasks.create.mutate({ task_type_id: type.id });
    const [claimed] = await client.tasks.claim.mutate({ worker_id: 'w1', task_type_ids: [type.id] });
    await client.tasks.cancel.mutate({ task_id: task.id });
    const lost = await failure(client.tasks.complete.mutate({ task_id: task.id, worker_id: 'w1', lease_id: claimed!.lease_id!, result: null }));
    expect(lost).toBeInstanceOf(LeaseLostError);
    expect(lost).toBeInstanceOf(ConflictError);
    expect(lost).toMatchObject({ kind: 'lease_lost', status: 409, reason: 'lease_lost' });
    expect(lost.detail).toMatch(/it is cancelled/);
  });

  it('rate limited: 429 with the server’s Retry-After', async () => {
    const type = await client.taskTypes.create.mutate({ name: 'errors_busy' });
    // The one long poll this server allows, waiting for a task that does not come.
    const waiting = client.tasks.claim.mutate({ worker_id: 'w', task_type_ids: [type.id], wait_seconds: 5 });
    await expect.poll(async () => (await fetch(`${server.url}/metrics`).then((r) => r.text())).match(/^prismq_claims_waiting (\d+)/m)?.[1]).toBe('1');
    const busy = await failure(client.tasks.claim.mutate({ worker_id: 'w', task_type_ids: [type.id], wait_seconds: 5 }));
    expect(busy).toBeInstanceOf(RateLimitedError);
    expect(busy).toMatchObject({ kind: 'rate_limited', status: 429, retryable: true });
    expect((busy as RateLimitedError).retryAfterSeconds).toBe(1);
    await client.tasks.create.mutate({ task_type_id: type.id });
    await waiting;
  });

  it('unauthorized and forbidden, by the token sent', async () => {
    const guarded = await startTestServer({ auth: 'on' });
    try {
      const { token } = await guarded.store.createToken('reader', ['read']);
      const none = await failure(createPrismqClient({ url: guarded.url }).taskTypes.list.query({}));
      expect(none).toBeInstanceOf(UnauthorizedError);
      expect(none.status).toBe(401);
      const reader = createPrismqClient({ url: guarded.url, token });
      await expect(reader.taskTypes.list.query({})).resolves.toEqual([]);
      const refused = await failure(reader.taskTypes.create.mutate({ name: 'nope' }));
      expect(refused).toBeInstanceOf(ForbiddenError);
      expect(refused).toMatchObject({ kind: 'forbidden', status: 403 });
    } finally {
      await guarded.close();
    }
  });

  it('no answer: a ConnectionError (an UnavailableError, worth trying again)', async () => {
    // A port that was free a moment ago, where nothing listens.
    const port = await new Promise<number>((resolve) => {
      const probe = createServer().listen(0, '127.0.0.1', () => {
        const { port } = probe.address() as { port: number };
        probe.close(() => resolve(port));
      });
    });
    const down = await failure(createPrismqClient({ url: `http://127.0.0.1:${port}` }).tasks.get.query({ task_id: 1 }));
    expect(down).toBeInstanceOf(ConnectionError);
    expect(down).toBeInstanceOf(UnavailableError);
    expect(down).toMatchObject({ kind: 'connection', status: 0, retryable: true });
    expect(down.detail).toMatch(/cannot reach the server/);
  });

  it.skipIf(testEngine !== 'sqlite')('unavailable: 503 when the database cannot be written', async () => {
    const broken = await startTestServer();
    try {
      const type = await createPrismqClient({ url: broken.url }).taskTypes.create.mutate({ name: 'errors_storage' });
      renameSync(broken.databasePath, `${broken.databasePath}.away`);
      const refused = await failure(createPrismqClient({ url: broken.url }).tasks.create.mutate({ task_type_id: type.id }));
      expect(refused).toBeInstanceOf(UnavailableError);
      expect(refused).toMatchObject({ kind: 'unavailable', status: 503, retryable: true });
      expect(refused.detail).toMatch(/deleted or replaced/);
    } finally {
      await broken.close();
    }
  });
});
