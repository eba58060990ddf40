/**
 * Slow and idle clients against a server process started with the README's variables: they are
 * cut after the configured timeouts, /healthz keeps answering meanwhile, and request bodies in
 * flight cannot take more memory than BODY_MEMORY_LIMIT.
 */
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, killAllServerProcesses, removeTempDirs, startServerProcess, tempDir, type ServerProcess } from './process-testing.js';

interface Client {
  socket: Socket;
  /** Everything the server sent. */
  received(): string;
  closed: Promise<void>;
}

/** Opens a connection and sends `text`, then nothing more. */
function open(url: string, text: string): Promise<Client> {
  const { port } = new URL(url);
  return new Promise((resolve, reject) => {
    let received = '';
    const socket = connect(Number(port), '127.0.0.1');
    const closed = new Promise<void>((done) => socket.once('close', () => done()));
    socket.setEncoding('utf8').on('data', (chunk: string) => (received += chunk));
    socket.once('error', () => {}); // a reset is one way of being cut
    socket.once('connect', () => {
      socket.write(text);
      resolve({ socket, received: () => received, closed });
    });
    socket.once('error', reject);
  });
}

const isClosed = (client: Client) => client.socket.destroyed || client.socket.readyState === 'closed';

let server: ServerProcess;

beforeAll(async () => {
  server = await startServerProcess({
    databasePath: join(tempDir(), 'api.db'),
    env: {
      HEADERS_TIMEOUT_MS: '500',
      REQUEST_TIMEOUT_MS: '1000',
      KEEP_ALIVE_TIMEOUT_MS: '500',
      BODY_LIMIT: String(1024 * 1024),
      BODY_MEMORY_LIMIT: String(3 * 1024 * 1024),
    },
  });
});
afterAll(async () => {
  await killAllServerProcesses();
  removeTempDirs();
});

describe('slow and idle clients', () => {
  it('cuts clients that send headers or bodies too slowly, while /healthz keeps answering', async () => {
    const slowHeaders = await Promise.all(Array.from({ length: 200 }, () => open(server.url, 'GET /healthz HTTP/1.1\r\nHost: x\r\n')));
    const slowBodies = await Promise.all(
      Array.from({ length: 100 }, () =>
        open(server.url, 'POST /api/tasks HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"task_'),
      ),
    );
    expect((await api(server.url, 'GET', '/healthz')).status).toBe(200);
    const all = [...slowHeaders, ...slowBodies];
    await expect.poll(() => all.filter(isClosed).length, { timeout: 15_000, interval: 100 }).toBe(all.length);
    // Cut with an answer that says why, where the request had begun.
    expect(slowBodies.filter((client) => client.received().startsWith('HTTP/1.1 408')).length).toBeGreaterThan(0);
  });

  it('closes a keep-alive connection that stays idle', async () => {
    const client = await open(server.url, 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
    await expect.poll(() => client.received(), { timeout: 5_000 }).toContain('"status":"ok"');
    await client.closed; // with no timeout it would stay open for good
    expect(client.received().match(/HTTP\/1\.1 /g)).toHaveLength(1);
  });

  it('answers 503 to a body that would take more memory than BODY_MEMORY_LIMIT, and takes it once memory is free', async () => {
    const oneMiB = 1024 * 1024;
    const head = `POST /api/task-types HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${oneMiB}\r\n\r\n`;
    // Three almost-finished 1 MiB bodies fill the 3 MiB budget.
    const holding = await Promise.all(Array.from({ length: 3 }, () => open(server.url, head + '{"name":"')));
    const refused = await open(server.url, head + '{"name":"');
    await expect.poll(() => refused.received(), { timeout: 5_000 }).toMatch(/^HTTP\/1\.1 503 /);
    expect(refused.received().toLowerCase()).toContain('retry-after: 1');
    await refused.closed;
    // The held ones time out (REQUEST_TIMEOUT_MS) and give their memory back.
    await Promise.all(holding.map((client) => client.closed));
    // Three 1 MiB bodies fit again (each is read, and refused for its over-long description).
    const body = JSON.stringify({ name: 'after_the_budget', description: 'x'.repeat(oneMiB - 100) });
    const statuses = await Promise.all(
      [1, 2, 3].map(async () => (await fetch(`${server.url}/api/task-types`, { method: 'POST', headers: { 'content-type': 'application/json' }, body })).status),
    );
    expect(statuses).toEqual([422, 422, 422]);
  });
});

describe('MAX_CONNECTIONS', () => {
  it('closes connections past the cap as they arrive, and serves again once slow ones are cut', async () => {
    const capped = await startServerProcess({
      databasePath: join(tempDir(), 'api.db'),
      env: { MAX_CONNECTIONS: '20', HEADERS_TIMEOUT_MS: '500', REQUEST_TIMEOUT_MS: '1000' },
    });
    const holding = await Promise.all(Array.from({ length: 20 }, () => open(capped.url, 'GET /healthz HTTP/1.1\r\nHost: x\r\n')));
    // Connections are accepted in the order they arrive: this is the twenty-first.
    const extra = await open(capped.url, 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
    await extra.closed;
    expect(extra.received()).toBe('');
    await Promise.all(holding.map((client) => client.closed));
    expect((await api(capped.url, 'GET', '/healthz')).status).toBe(200);
  });
});
