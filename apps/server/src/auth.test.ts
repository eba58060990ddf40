import { connect } from 'node:net';
import { Writable } from 'node:stream';
import type { TokenScope } from '@prismq/db';
import { SCOPE_GRANTS, type Access, type AppRouter } from '@prismq/api';
import { createTRPCClient, httpLink } from '@trpc/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './testing.js';

let server: TestServer;
const tokens = {} as Record<TokenScope | 'revoked', string>;
let typeId: number;
let taskId: number;

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

beforeAll(async () => {
  server = await startTestServer();
  // No token yet: a loopback server is open.
  const open = await server.request('POST', '/api/task-types', { name: 'before_tokens' });
  expect(open.status).toBe(201);
  typeId = open.body.id;
  taskId = (await server.request('POST', '/api/tasks', { task_type_id: typeId })).body.id;

  for (const scope of ['admin', 'producer', 'worker', 'read'] as const) {
    tokens[scope] = (await server.store.createToken(`${scope}-token`, [scope])).token;
  }
  tokens.revoked = (await server.store.createToken('revoked-token', ['admin'])).token;
  await server.store.revokeToken('revoked-token');
});
afterAll(() => server.close());

/** Every REST operation, with what it does for access control. */
const OPERATIONS: [Access, string, () => string, unknown?][] = [
  ['read', 'GET', () => '/api/task-types'],
  ['read', 'GET', () => `/api/task-types/${typeId}`],
  ['read', 'GET', () => '/api/tasks'],
  ['read', 'GET', () => `/api/tasks/${taskId}`],
  ['read', 'GET', () => `/api/tasks/${taskId}/attempts`],
  ['produce', 'POST', () => '/api/tasks', { task_type_id: 1 }],
  ['produce', 'POST', () => '/api/tasks/batch', { tasks: [{ task_type_id: 1 }] }],
  ['produce', 'PUT', () => `/api/tasks/${taskId}`, { priority: 5 }],
  ['produce', 'POST', () => `/api/tasks/${taskId}/cancel`],
  ['produce', 'POST', () => `/api/tasks/${taskId}/retry`],
  ['work', 'POST', () => '/api/tasks/claim', { worker_id: 'w', task_type_ids: [999] }],
  ['work', 'POST', () => `/api/tasks/${taskId}/heartbeat`, { worker_id: 'w', lease_id: 'x' }],
  ['work', 'POST', () => `/api/tasks/${taskId}/complete`, { worker_id: 'w', lease_id: 'x' }],
  ['work', 'POST', () => `/api/tasks/${taskId}/fail`, { worker_id: 'w', lease_id: 'x', error_message: 'e' }],
  ['admin', 'POST', () => '/api/task-types', { name: `t${Math.random()}` }],
  ['admin', 'PUT', () => `/api/task-types/${typeId}`, { description: 'd' }],
  ['admin', 'DELETE', () => '/api/task-types/999'],
  ['admin', 'DELETE', () => '/api/tasks/999999'],
];

describe('authentication and scopes', () => {
  it.each(OPERATIONS)('%s: %s %s answers 401 without a valid token', async (_access, method, path, body) => {
    for (const headers of [{}, bearer('pq_1_notthesecretnotthesecretnotthesecretnott'), bearer('garbage'), bearer(tokens.revoked), { authorization: 'Basic abc' }]) {
      const res = await server.request(method, path(), body, headers);
      expect(res.status, JSON.stringify(headers)).toBe(401);
      expect(typeof res.body.detail).toBe('string');
    }
  });

  it.each(OPERATIONS)('%s: %s %s is allowed exactly for the scopes that grant it', async (access, method, path, body) => {
    for (const scope of ['admin', 'producer', 'worker', 'read'] as const) {
      const res = await server.request(method, path(), body, bearer(tokens[scope]));
      if (SCOPE_GRANTS[scope].includes(access)) {
        expect([401, 403], `${scope} should be allowed: ${res.text}`).not.toContain(res.status);
      } else {
        expect(res.status, `${scope} should be refused`).toBe(403);
        expect(res.body.detail).toContain(`'${scope}-token'`);
      }
    }
  });

  it('grants the documented scopes', () => {
    expect(SCOPE_GRANTS).toEqual({
      admin: ['read', 'produce', 'work', 'admin'],
      producer: ['read', 'produce'],
      worker: ['read', 'work'],
      read: ['read'],
    });
  });

  it('applies to tRPC too, and the typed client sends its token', async () => {
    const client = (token?: string) =>
      createTRPCClient<AppRouter>({ links: [httpLink({ url: `${server.url}/trpc`, headers: token ? bearer(token) : {} })] });
    await expect(client().tasks.list.query({})).rejects.toMatchObject({ data: { httpStatus: 401 } });
    await expect(client(tokens.read).taskTypes.create.mutate({ name: 'nope' })).rejects.toMatchObject({ data: { httpStatus: 403 } });
    await expect(client(tokens.read).tasks.list.query({})).resolves.toEqual(expect.any(Array));
  });

  it('leaves the probes, metrics, docs and the OpenAPI document open', async () => {
    for (const path of ['/healthz', '/readyz', '/metrics', '/docs', '/api/openapi.json']) {
      expect((await server.request('GET', path)).status, path).toBe(200);
    }
  });

  it('says to send a bearer token, in the header and the detail', async () => {
    const res = await server.request('GET', '/api/tasks');
    expect(res.headers.get('www-authenticate')).toBe('Bearer');
    expect(res.body.detail).toMatch(/Authorization: Bearer/);
  });
});

describe('when authentication applies', () => {
  it('is off on loopback until a token is created, and stays on after every token is revoked', async () => {
    const fresh = await startTestServer();
    try {
      expect((await fresh.request('GET', '/api/tasks')).status).toBe(200);
      const { token } = await fresh.store.createToken('first', ['admin']);
      expect((await fresh.request('GET', '/api/tasks')).status).toBe(401);
      expect((await fresh.request('GET', '/api/tasks', undefined, bearer(token))).status).toBe(200);
      // Revoking the last token must not open the API: an operator revoking a leaked token
      // would otherwise let everyone in.
      await fresh.store.revokeToken('first');
      for (const headers of [{}, bearer(token), bearer('garbage')]) {
        expect((await fresh.request('GET', '/api/tasks', undefined, headers)).status, JSON.stringify(headers)).toBe(401);
        const create = await fresh.request('POST', '/api/task-types', { name: `after_revoke_${Math.random()}` }, headers);
        expect(create.status, JSON.stringify(headers)).toBe(401);
      }
      const trpc = createTRPCClient<AppRouter>({ links: [httpLink({ url: `${fresh.url}/trpc`, headers: bearer(token) })] });
      await expect(trpc.taskTypes.create.mutate({ name: 'after_revoke' })).rejects.toMatchObject({ data: { httpStatus: 401 } });
    } finally {
      await fresh.close();
    }
  });

  it('answers 401 to a revoked or unknown token in every mode, AUTH=off included', async () => {
    for (const options of [{ auth: 'off' as const }, { auth: 'on' as const }, {}]) {
      const s = await startTestServer(options);
      try {
        const { token } = await s.store.createToken('gone', ['admin']);
        await s.store.revokeToken('gone');
        for (const headers of [bearer(token), bearer('garbage'), { authorization: 'Basic abc' }]) {
          const res = await s.request('GET', '/api/tasks', undefined, headers);
          expect(res.status, `${JSON.stringify(options)} ${JSON.stringify(headers)}`).toBe(401);
          expect(res.body.detail).toBe('Invalid or revoked API token');
        }
        expect((await s.request('GET', '/api/tasks')).status, JSON.stringify(options)).toBe(options.auth === 'off' ? 200 : 401);
      } finally {
        await s.close();
      }
    }
  });

  it('is always on with AUTH=on and for a server reachable from other machines, and never with AUTH=off', async () => {
    for (const [options, status] of [
      [{ auth: 'on' as const }, 401],
      [{ loopback: false }, 401],
      [{ auth: 'off' as const, loopback: false }, 200],
    ] as const) {
      const s = await startTestServer(options);
      try {
        expect((await s.request('GET', '/api/tasks')).status, JSON.stringify(options)).toBe(status);
      } finally {
        await s.close();
      }
    }
  });

  it('never writes a token into the logs', async () => {
    const lines: string[] = [];
    const s = await startTestServer({ logLevel: 'trace', logStream: new Writable({ write: (chunk, _e, done) => (lines.push(String(chunk)), done()) }) });
    try {
      const { token } = await s.store.createToken('secret-holder', ['admin']);
      await s.request('GET', '/api/tasks', undefined, bearer(token));
      await s.request('GET', '/api/tasks', undefined, bearer(`${token}x`));
      expect(lines.length).toBeGreaterThan(0);
      const secret = token.replace(/^pq_\d+_/, '');
      expect(lines.join('\n')).not.toContain(secret);
    } finally {
      await s.close();
    }
  });
});

/** Sends `head` and the start of a body on a raw connection, and resolves with the first answer. */
function startRequest(url: string, head: string, bodyStart: string): Promise<string> {
  const { port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), '127.0.0.1', () => socket.write(head + bodyStart));
    let answer = '';
    socket.setEncoding('utf8').on('data', (chunk: string) => {
      answer += chunk;
      if (answer.includes('\r\n\r\n')) {
        socket.destroy();
        resolve(answer);
      }
    });
    socket.on('error', reject);
  });
}

describe('before the body is read', () => {
  it.each(['/api/tasks', '/trpc/tasks.create', '/trpc/tasks.create,tasks.create?batch=1'])(
    'refuses a request to %s without a valid token before its body arrives, and closes the connection',
    async (path) => {
      for (const authorization of ['', `Authorization: Bearer ${tokens.revoked}\r\n`]) {
        const head = `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n${authorization}Content-Length: 1000000\r\n\r\n`;
        // Only 16 of the 1,000,000 bytes are ever sent: the answer cannot wait for the rest.
        const answer = await startRequest(server.url, head, '{"task_type_id":');
        expect(answer).toMatch(/^HTTP\/1\.1 401 /);
        expect(answer.toLowerCase()).toContain('connection: close');
      }
    },
  );

  it('refuses a token without the scope before the body arrives', async () => {
    const head = `POST /api/task-types HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAuthorization: Bearer ${tokens.read}\r\nContent-Length: 1000000\r\n\r\n`;
    expect(await startRequest(server.url, head, '{"name":')).toMatch(/^HTTP\/1\.1 403 /);
  });

  it('answers an early refusal over tRPC in tRPC’s error shape, one per call of a batch', async () => {
    const res = await fetch(`${server.url}/trpc/tasks.create,tasks.list?batch=1`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } });
    expect(res.status).toBe(401);
    const body = (await res.json()) as { error: { data: { httpStatus: number; path: string } } }[];
    expect(body.map((item) => [item.error.data.httpStatus, item.error.data.path])).toEqual([
      [401, 'tasks.create'],
      [401, 'tasks.list'],
    ]);
  });
});
