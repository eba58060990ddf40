/**
 * Live events (the tRPC subscription tasks.events, server-sent events) and waiting for a result
 * (GET /api/tasks/{id}?wait_seconds), over real HTTP, on the engine of the run (SQLite, or
 * PostgreSQL with PRISMQ_TEST_ENGINE=postgres), including two servers on one database.
 */
import { openStore, type TaskStore } from '@prismq/db';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { buildApp } from './app.js';
import { startTestServer, testEngine, type TestServer } from './testing.js';

interface Change {
  id: string;
  task_id: number;
  task_type_id: number;
  kind: string;
  status: string;
  progress: number | null;
}

/** A live event stream read as a client does, with its raw events. */
interface Stream {
  /** The changes received, each with its event id. */
  changes: (Change & { eventId: string })[];
  /** Errors the server sent (serialized-error events). */
  errors: { message: string; data: { code: string; httpStatus: number } }[];
  /** Whether the stream has ended. */
  ended: boolean;
  /** Cuts the connection, as a client that goes away. */
  close(): void;
}

const WAIT = { timeout: 10_000, interval: 20 };

/** Opens GET /trpc/tasks.events with `input` (and Last-Event-ID when given) and reads it in the background. */
async function subscribe(url: string, input: Record<string, unknown> = {}, headers: Record<string, string> = {}): Promise<Stream> {
  const abort = new AbortController();
  const response = await fetch(`${url}/trpc/tasks.events?input=${encodeURIComponent(JSON.stringify(input))}`, { headers, signal: abort.signal });
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
  const stream: Stream = { changes: [], errors: [], ended: false, close: () => abort.abort() };
  let resolveConnected!: () => void;
  const connected = new Promise<void>((resolve) => (resolveConnected = resolve));
  void (async () => {
    const decoder = new TextDecoder();
    let buffer = '';
    let event: { type?: string; id?: string; data?: string } = {};
    try {
      for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
        buffer += decoder.decode(chunk, { stream: true });
        let end: number;
        while ((end = buffer.indexOf('\n')) >= 0) {
          const line = buffer.slice(0, end);
          buffer = buffer.slice(end + 1);
          if (line === '') {
            if (event.type === 'connected') resolveConnected();
            else if (event.type === 'serialized-error') stream.errors.push(JSON.parse(event.data!));
            else if (event.type === undefined && event.data !== undefined) stream.changes.push({ ...JSON.parse(event.data), eventId: event.id });
            event = {};
          } else if (line.startsWith('event: ')) event.type = line.slice(7);
          else if (line.startsWith('data: ')) event.data = line.slice(6);
          else if (line.startsWith('id: ')) event.id = line.slice(4);
        }
      }
    } catch {
      // cut by close()
    }
    stream.ended = true;
    resolveConnected();
  })();
  await connected;
  return stream;
}

/** What the stream received of one task: kinds in order. */
const kindsOf = (stream: Stream, taskId: number) => stream.changes.filter((change) => change.task_id === taskId).map((change) => change.kind);

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server?.close());

let counter = 0;
async function newType(on: { request: TestServer['request'] } = server): Promise<number> {
  const res = await on.request('POST', '/api/task-types', { name: `events_${++counter}_${Date.now()}` });
  expect(res.status, res.text).toBe(201);
  return res.body.id;
}

async function createTask(typeId: number, on: { request: TestServer['request'] } = server): Promise<{ id: number }> {
  const res = await on.request('POST', '/api/tasks', { task_type_id: typeId });
  expect(res.status, res.text).toBe(201);
  return res.body;
}

async function claim(typeId: number, on: { request: TestServer['request'] } = server) {
  const res = await on.request('POST', '/api/tasks/claim', { worker_id: 'w', task_type_ids: [typeId] });
  expect(res.status, res.text).toBe(200);
  expect(res.body).toHaveLength(1);
  return res.body[0] as { id: number; worker_id: string; lease_id: string };
}

async function complete(task: { id: number; worker_id: string; lease_id: string }, on: { request: TestServer['request'] } = server) {
  const res = await on.request('POST', `/api/tasks/${task.id}/complete`, { worker_id: task.worker_id, lease_id: task.lease_id, result: { ok: true } });
  expect(res.status, res.text).toBe(200);
}

describe('live events (tasks.events)', () => {
  it('streams a task’s life as it happens: created, claimed, progress, completed, each with its change id as the event id', async () => {
    const typeId = await newType();
    const stream = await subscribe(server.url, { task_type_ids: [typeId] });
    const task = await createTask(typeId);
    const claimed = await claim(typeId);
    const beat = await server.request('POST', `/api/tasks/${task.id}/heartbeat`, { worker_id: claimed.worker_id, lease_id: claimed.lease_id, progress: 40, message: 'half way' });
    expect(beat.status, beat.text).toBe(200);
    await complete(claimed);
    await vi.waitFor(() => expect(kindsOf(stream, task.id)).toEqual(['created', 'claimed', 'progress', 'completed']), WAIT);
    expect(stream.changes.find((change) => change.kind === 'progress')).toMatchObject({ progress: 40, message: 'half way', status: 'running' });
    for (const change of stream.changes) expect(change.eventId).toBe(change.id);
    expect(stream.errors).toEqual([]);
    stream.close();
  });

  it('sends only what its filters ask for: by type, by status, by task', async () => {
    const [typeId, otherType] = [await newType(), await newType()];
    const byType = await subscribe(server.url, { task_type_ids: [typeId] });
    const byStatus = await subscribe(server.url, { task_type_ids: [typeId], statuses: ['completed'] });
    const first = await createTask(typeId);
    const byTask = await subscribe(server.url, { task_id: first.id });
    await createTask(otherType);
    const second = await createTask(typeId);
    await complete(await claim(typeId));
    await vi.waitFor(() => expect(byType.changes.map((c) => [c.task_id, c.kind])).toEqual([[first.id, 'created'], [second.id, 'created'], [first.id, 'claimed'], [first.id, 'completed']]), WAIT);
    await vi.waitFor(() => expect(byStatus.changes.map((c) => [c.task_id, c.kind])).toEqual([[first.id, 'completed']]), WAIT);
    await vi.waitFor(() => expect(byTask.changes.map((c) => [c.task_id, c.kind])).toEqual([[first.id, 'claimed'], [first.id, 'completed']]), WAIT);
    for (const stream of [byType, byStatus, byTask]) stream.close();
  });

  it('resumes after a reconnect from the last event id: everything in between, exactly once', async () => {
    const typeId = await newType();
    const first = await subscribe(server.url, { task_type_ids: [typeId] });
    const before = [await createTask(typeId), await createTask(typeId)];
    await vi.waitFor(() => expect(first.changes).toHaveLength(2), WAIT);
    first.close();
    const lastEventId = first.changes.at(-1)!.eventId;
    // While the client is away.
    const during = [await createTask(typeId), await createTask(typeId)];
    await complete(await claim(typeId));
    // EventSource sends the id of the last event it received as Last-Event-ID.
    const again = await subscribe(server.url, { task_type_ids: [typeId] }, { 'last-event-id': lastEventId });
    const after = await createTask(typeId);
    const expected = [
      [during[0]!.id, 'created'],
      [during[1]!.id, 'created'],
      [before[0]!.id, 'claimed'],
      [before[0]!.id, 'completed'],
      [after.id, 'created'],
    ];
    await vi.waitFor(() => expect(again.changes.map((c) => [c.task_id, c.kind])).toEqual(expected), WAIT);
    // Nothing more comes (no repeat) once a later change has arrived after them.
    const last = await createTask(typeId);
    await vi.waitFor(() => expect(again.changes.map((c) => c.task_id)).toContain(last.id), WAIT);
    expect(again.changes.map((c) => [c.task_id, c.kind])).toEqual([...expected, [last.id, 'created']]);
    // tRPC's own way, the id in the input, resumes alike.
    const byInput = await subscribe(server.url, { task_type_ids: [typeId], lastEventId });
    await vi.waitFor(() => expect(byInput.changes.map((c) => [c.task_id, c.kind])).toEqual([...expected, [last.id, 'created']]), WAIT);
    again.close();
    byInput.close();
  });

  it('tells a client resuming after an event that is no longer kept, and refuses an id that is none', async () => {
    const unknown = testEngine === 'postgres' ? '1:999999999' : '999999999';
    const gone = await subscribe(server.url, {}, { 'last-event-id': unknown });
    await vi.waitFor(() => expect(gone.errors).toHaveLength(1), WAIT);
    expect(gone.errors[0]).toMatchObject({ data: { code: 'CONFLICT', httpStatus: 409 } });
    expect(gone.errors[0]!.message).toContain('no longer in the log');
    const garbage = await subscribe(server.url, { lastEventId: 'not-an-id' });
    await vi.waitFor(() => expect(garbage.errors).toHaveLength(1), WAIT);
    expect(garbage.errors[0]).toMatchObject({ data: { code: 'UNPROCESSABLE_CONTENT', httpStatus: 422 } });
  });
});

describe('GET /api/tasks/{id}?wait_seconds', () => {
  it('answers at once for a finished task, and as soon as an unfinished one finishes', async () => {
    const typeId = await newType();
    const task = await createTask(typeId);
    const waiting = server.request('GET', `/api/tasks/${task.id}?wait_seconds=10`);
    // The wait counts among the waiting requests (and so is under way) before the task finishes.
    const claimed = await claim(typeId);
    await vi.waitFor(async () => expect((await server.request('GET', '/metrics')).text).toMatch(/^prismq_claims_waiting 1$/m), WAIT);
    const completedAt = Date.now();
    await complete(claimed);
    const res = await waiting;
    const latency = Date.now() - completedAt;
    expect(res.status, res.text).toBe(200);
    expect(res.body).toMatchObject({ id: task.id, status: 'completed', result: { ok: true } });
    console.info(`wait answered ${latency} ms after the complete was sent (${testEngine})`);
    expect(latency).toBeLessThan(1000);
    const started = Date.now();
    const again = await server.request('GET', `/api/tasks/${task.id}?wait_seconds=30`);
    expect(again.body.status).toBe('completed');
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('answers with the task as it is when the time is up, and 404 for a task that does not exist', async () => {
    const typeId = await newType();
    const task = await createTask(typeId);
    const res = await server.request('GET', `/api/tasks/${task.id}?wait_seconds=1`);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ id: task.id, status: 'pending' });
    expect((await server.request('GET', '/api/tasks/999999999?wait_seconds=1')).status).toBe(404);
  });

  it('refuses wait_seconds outside 0-30 with 422', async () => {
    for (const wait of ['31', '-1', '1.5', 'x']) {
      const res = await server.request('GET', `/api/tasks/1?wait_seconds=${wait}`);
      expect(res.status, wait).toBe(422);
      expect(res.body.detail[0].loc).toEqual(['query', 'wait_seconds']);
    }
  });

  it('over tRPC too (tasks.get with wait_seconds)', async () => {
    const typeId = await newType();
    const task = await createTask(typeId);
    const waiting = fetch(`${server.url}/trpc/tasks.get?input=${encodeURIComponent(JSON.stringify({ task_id: task.id, wait_seconds: 10 }))}`).then((r) => r.json());
    await complete(await claim(typeId));
    expect(await waiting).toMatchObject({ result: { data: { id: task.id, status: 'completed' } } });
  });
});

describe('two servers on one database', () => {
  let other: { app: FastifyInstance; store: TaskStore; url: string; request: TestServer['request'] } | undefined;
  beforeAll(async () => {
    // A second server, with its own store (its own connections) on the first one's database: a replica.
    const store = await openStore(server.databasePath);
    const app = await buildApp({ store, logLevel: 'silent', shutdownGraceMs: 200 });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const url = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
    other = {
      app,
      store,
      url,
      async request(method, path, body) {
        const res = await fetch(url + path, { method, headers: body === undefined ? {} : { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
        const text = await res.text();
        return { status: res.status, headers: res.headers, text, body: text ? JSON.parse(text) : undefined } as Awaited<ReturnType<TestServer['request']>>;
      },
    };
  });
  afterAll(async () => {
    await other?.app.close();
    await other?.store.close();
  });

  it('a wait on one server is answered when the task completes through the other', async () => {
    const typeId = await newType();
    const task = await createTask(typeId);
    const waiting = server.request('GET', `/api/tasks/${task.id}?wait_seconds=20`);
    const claimed = await claim(typeId, other!);
    await vi.waitFor(async () => expect((await server.request('GET', '/metrics')).text).toMatch(/^prismq_claims_waiting 1$/m), WAIT);
    const completedAt = Date.now();
    await complete(claimed, other!);
    const res = await waiting;
    console.info(`wait across servers answered ${Date.now() - completedAt} ms after the complete was sent (${testEngine})`);
    expect(res.body).toMatchObject({ id: task.id, status: 'completed' });
    expect(Date.now() - completedAt).toBeLessThan(5000);
  });

  it('a subscriber of one server sees the changes made through the other', async () => {
    const typeId = await newType();
    const stream = await subscribe(server.url, { task_type_ids: [typeId] });
    const task = await createTask(typeId, other!);
    await complete(await claim(typeId, other!), other!);
    await vi.waitFor(() => expect(kindsOf(stream, task.id)).toEqual(['created', 'claimed', 'completed']), WAIT);
    stream.close();
  });
});

describe('live events with authentication on', () => {
  let secured: TestServer;
  beforeAll(async () => {
    secured = await startTestServer({ auth: 'on' });
  });
  afterAll(() => secured?.close());

  it('need a token that may read: a read-scope token subscribes, no token is refused', async () => {
    const read = (await secured.store.createToken('reader', ['read'])).token;
    const admin = (await secured.store.createToken('admin', ['admin'])).token;
    // Refused before the stream starts, as every request without a token is.
    const refused = await fetch(`${secured.url}/trpc/tasks.events?input=${encodeURIComponent('{}')}`);
    expect(refused.status).toBe(401);
    expect(((await refused.json()) as { error: { data: { code: string } } }).error.data.code).toBe('UNAUTHORIZED');
    const stream = await subscribe(secured.url, {}, { authorization: `Bearer ${read}` });
    const type = await secured.request('POST', '/api/task-types', { name: 'secured' }, { authorization: `Bearer ${admin}` });
    const task = await secured.request('POST', '/api/tasks', { task_type_id: type.body.id }, { authorization: `Bearer ${admin}` });
    await vi.waitFor(() => expect(kindsOf(stream, task.body.id)).toEqual(['created']), WAIT);
    expect(stream.errors).toEqual([]);
    stream.close();
  });
});

describe('live events and shutdown', () => {
  it('end when the server stops, which does not wait for them', async () => {
    const stopping = await startTestServer({ shutdownGraceMs: 60_000 });
    const stream = await subscribe(stopping.url, {});
    const started = Date.now();
    await stopping.close();
    // Well before the grace period: the stream ended by itself, its connection was not cut.
    expect(Date.now() - started).toBeLessThan(30_000);
    await vi.waitFor(() => expect(stream.ended).toBe(true), WAIT);
    expect(stream.errors).toEqual([]);
  });
});

describe('live events beyond MAX_EVENT_STREAMS', () => {
  it('refuse a stream over the limit with TOO_MANY_REQUESTS, and take one again once a stream has ended', async () => {
    const capped = await startTestServer({ maxEventStreams: 1 });
    try {
      const first = await subscribe(capped.url);
      const refused = await subscribe(capped.url);
      await vi.waitFor(() => expect(refused.ended).toBe(true), WAIT);
      expect(refused.errors).toEqual([expect.objectContaining({ data: expect.objectContaining({ code: 'TOO_MANY_REQUESTS', httpStatus: 429 }) })]);
      first.close();
      // Its slot is given back once the server has seen it go: a new stream then receives changes.
      const type = (await capped.request('POST', '/api/task-types', { name: 'after_cap' })).body;
      await vi.waitFor(async () => {
        const stream = await subscribe(capped.url);
        try {
          const task = (await capped.request('POST', '/api/tasks', { task_type_id: type.id })).body;
          await vi.waitFor(() => expect(kindsOf(stream, task.id)).toEqual(['created']), { timeout: 2000, interval: 20 });
        } finally {
          stream.close();
        }
      }, WAIT);
    } finally {
      await capped.close();
    }
  });
});
