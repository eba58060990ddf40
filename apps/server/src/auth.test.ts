import { Writable } from 'node:stream';
import type { TokenScope } from '@prismq/db';
import { createTRPCClient, httpLink } from '@trpc/client';
import type { AppRouter } from './router.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SCOPE_GRANTS, type Access } from './trpc.js';
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
  it('is off on loopback until a token exists, and on once one does', async () => {
    const fresh = await startTestServer();
    try {
      expect((await fresh.request('GET', '/api/tasks')).status).toBe(200);
      const { token } = await fresh.store.createToken('first', ['read']);
      expect((await fresh.request('GET', '/api/tasks')).status).toBe(401);
      expect((await fresh.request('GET', '/api/tasks', undefined, bearer(token))).status).toBe(200);
      // Revoking the last token opens a loopback server again.
      await fresh.store.revokeToken('first');
      expect((await fresh.request('GET', '/api/tasks')).status).toBe(200);
    } finally {
      await fresh.close();
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
