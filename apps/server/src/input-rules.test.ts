/**
 * REST and tRPC read input by the same rules: bodies must be valid UTF-8 without prototype keys,
 * media types match whatever their case, and whole numbers in URLs are plain decimal.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './testing.js';

let server: TestServer;
let typeId: number;
let taskId: number;

beforeAll(async () => {
  server = await startTestServer();
  typeId = (await server.request('POST', '/api/task-types', { name: 'rules' })).body.id;
  // Far enough from 1000 that 1e3 cannot be its id by chance.
  taskId = (await server.request('POST', '/api/tasks', { task_type_id: typeId })).body.id;
});
afterAll(() => server.close());

/** A raw body sent to a REST path or a tRPC procedure. */
async function send(path: string, body: Uint8Array | string, contentType = 'application/json') {
  const res = await fetch(server.url + path, { method: 'POST', headers: { 'content-type': contentType }, body });
  return { status: res.status, body: (await res.json()) as Record<string, any> }; // eslint-disable-line @typescript-eslint/no-explicit-any
}

const invalidUtf8 = (json: string) => {
  const bytes = new TextEncoder().encode(json);
  const at = json.indexOf('@');
  bytes[at] = 0xff; // not a UTF-8 byte anywhere
  return bytes;
};

describe('bodies', () => {
  it('refuses invalid UTF-8 with 422 over REST and tRPC alike, and stores nothing', async () => {
    const body = invalidUtf8(`{"task_type_id":${typeId},"parameters":{"name":"@"}}`);
    const rest = await send('/api/tasks', body);
    const trpc = await send('/trpc/tasks.create', body);
    expect([rest.status, trpc.status]).toEqual([422, 422]);
    expect(JSON.stringify(rest.body.detail)).toContain('UTF-8');
    expect(trpc.body.error.data.httpStatus).toBe(422);
    expect(JSON.stringify(trpc.body.error.data.detail)).toContain('UTF-8');
    const tasks = (await server.request('GET', `/api/tasks?task_type_id=${typeId}`)).body as unknown[];
    expect(tasks).toHaveLength(1);
  });

  it.each([
    ['__proto__', `{"task_type_id":TYPE,"parameters":{"__proto__":{"admin":true}}}`],
    ['an escaped __proto__', `{"task_type_id":TYPE,"metadata":{"\\u005f_proto__":{"admin":true}}}`],
    ['constructor.prototype', `{"task_type_id":TYPE,"parameters":{"constructor":{"prototype":{"admin":true}}}}`],
  ])('refuses %s keys with 422 over REST and tRPC alike', async (_name, json) => {
    const body = json.replace('TYPE', String(typeId));
    const rest = await send('/api/tasks', body);
    const trpc = await send('/trpc/tasks.create', body);
    expect([rest.status, trpc.status]).toEqual([422, 422]);
    expect(JSON.stringify(trpc.body.error.data.detail)).toContain('prototype');
  });

  it('refuses prototype keys in a tRPC query input too', async () => {
    const input = encodeURIComponent('{"task_id":1,"__proto__":{"x":1}}');
    const res = await fetch(`${server.url}/trpc/tasks.get?input=${input}`);
    expect(res.status).toBe(422);
  });

  it('keeps a harmless key named like one inside a string', async () => {
    const res = await send('/trpc/tasks.create', JSON.stringify({ task_type_id: typeId, parameters: { note: '"__proto__": is just text' } }));
    expect(res.status).toBe(200);
  });

  it('reads JSON whatever the case of its media type, over REST and tRPC alike', async () => {
    const body = JSON.stringify({ task_type_id: typeId });
    for (const type of ['APPLICATION/JSON', 'Application/Json; Charset=UTF-8']) {
      expect((await send('/api/tasks', body, type)).status, type).toBe(201);
      expect((await send('/trpc/tasks.create', body, type)).status, type).toBe(200);
    }
  });
});

describe('whole numbers in URLs', () => {
  it.each(['0x{id}', '+{id}', '{id}.0', '00{id}', ' {id}', '{id}e0', '1e3', '-{id}', '0', '99999999999999999999'])(
    'answers 422 for the task id %s, over REST and tRPC alike',
    async (written) => {
      const id = written.replace('{id}', String(taskId));
      const rest = await server.request('GET', `/api/tasks/${encodeURIComponent(id)}`);
      expect(rest.status, id).toBe(422);
      expect(rest.body.detail[0].loc).toEqual(['path', 'task_id']);
      const trpc = await fetch(`${server.url}/trpc/tasks.get?input=${encodeURIComponent(JSON.stringify({ task_id: id }))}`);
      expect(trpc.status, id).toBe(422);
    },
  );

  it('takes plain decimal', async () => {
    expect((await server.request('GET', `/api/tasks/${taskId}`)).body.id).toBe(taskId);
    expect((await server.request('GET', '/api/tasks?limit=16')).status).toBe(200);
  });

  it.each(['0x10', '16.0', '+16', '1e1', '016', '-1'])('answers 422 for limit=%s', async (limit) => {
    const res = await server.request('GET', `/api/tasks?limit=${encodeURIComponent(limit)}`);
    expect(res.status, limit).toBe(422);
    expect(res.body.detail[0].loc).toEqual(['query', 'limit']);
  });
});
