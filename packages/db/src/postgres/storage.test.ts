import { createConnection, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { StorageError, ValidationError } from '../errors.js';
import { postgresTestUrl, usePostgresStores } from '../testing/postgres.js';
import { PostgresTaskStore } from './store.js';
import { storageErrorOf } from './storage.js';

/** A TCP proxy to the test server, to cut the store off from the database and let it back. */
class Proxy {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  port = 0;

  constructor(private readonly target: URL) {}

  async start(): Promise<void> {
    const server = createServer((client) => {
      const upstream = createConnection(Number(this.target.port || 5432), this.target.hostname);
      for (const socket of [client, upstream]) {
        this.sockets.add(socket);
        socket.on('close', () => this.sockets.delete(socket));
        socket.on('error', () => {
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve) => server.listen(this.port, '127.0.0.1', resolve));
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
  }

  /** Refuses new connections and cuts the open ones. */
  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise((resolve) => this.server?.close(resolve));
  }

  url(database: string): string {
    const url = new URL(database);
    url.hostname = '127.0.0.1';
    url.port = String(this.port);
    return url.toString();
  }
}

describe.skipIf(!postgresTestUrl())('the PostgreSQL store when the database fails', () => {
  const stores = usePostgresStores();
  const opened: PostgresTaskStore[] = [];
  const proxies: Proxy[] = [];
  afterEach(async () => {
    for (const store of opened.splice(0)) await store.close();
    for (const proxy of proxies.splice(0)) await proxy.stop();
  });

  it('fails to open with a StorageError naming the server when it cannot be reached', async () => {
    const proxy = new Proxy(new URL(stores.url()));
    await proxy.start();
    await proxy.stop(); // a port nothing listens on
    const error = await PostgresTaskStore.open(proxy.url(stores.url()), { connectTimeoutSeconds: 2 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StorageError);
    expect(error).toMatchObject({ reason: 'unavailable', message: expect.stringMatching(/^The database is unavailable: .*127\.0\.0\.1:\d+\/prismq_/) });
  });

  it('answers StorageError and an unhealthy health while the database cannot be reached, and recovers by itself', async () => {
    const proxy = new Proxy(new URL(stores.url()));
    proxies.push(proxy);
    await proxy.start();
    const store = await PostgresTaskStore.open(proxy.url(stores.url()), { poolSize: 2, connectTimeoutSeconds: 2 });
    opened.push(store);
    const type = await store.createTaskType({ name: 'cut-off' });
    expect(await store.health()).toEqual({ ok: true });

    await proxy.stop();
    const error = await store.createTask({ task_type_id: type.id }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StorageError);
    expect(error).toMatchObject({ reason: 'unavailable' });
    expect(await store.getTask(1).catch((e: unknown) => e)).toBeInstanceOf(StorageError);
    const health = await store.health();
    expect(health).toMatchObject({ ok: false, detail: expect.stringMatching(/^The database is unavailable: .*cannot be reached/) });
    expect(await store.ping()).toBe(false);

    await proxy.start();
    await expect.poll(() => store.health(), { timeout: 10_000, interval: 100 }).toEqual({ ok: true });
    expect((await store.createTask({ task_type_id: type.id })).created).toBe(true);
  }, 30_000);

  it('answers StorageError when the server ends the connection (admin shutdown), and goes on with a new one', async () => {
    const store = await stores.open({ poolSize: 1 });
    const error = await store.db.query('SELECT pg_terminate_backend(pg_backend_pid())').catch((e: unknown) => storageErrorOf(e, 'here'));
    expect(error).toMatchObject({ reason: 'unavailable', code: expect.stringMatching(/^(57P01|CONNECTION_CLOSED)$/) });
    expect(await store.health()).toEqual({ ok: true });
  });

  it('maps a full disk (53100) to reason full, and leaves other errors alone', () => {
    const full = storageErrorOf(Object.assign(new Error('could not extend file "base/1/2": No space left on device'), { code: '53100' }), 'db:5432/q');
    expect(full).toMatchObject({ reason: 'full', code: '53100', message: expect.stringMatching(/^The database disk is full: /) });
    expect(storageErrorOf(Object.assign(new Error('duplicate key'), { code: '23505' }), 'db')).toBeUndefined();
    expect(storageErrorOf(Object.assign(new Error('read only'), { code: '25006' }), 'db')).toMatchObject({ reason: 'unavailable' });
  });

  it('closes without throwing, even when the database is gone, and twice', async () => {
    const proxy = new Proxy(new URL(stores.url()));
    proxies.push(proxy);
    await proxy.start();
    const store = await PostgresTaskStore.open(proxy.url(stores.url()), { poolSize: 1 });
    await proxy.stop();
    expect(await store.close()).toEqual({});
    expect(await store.close()).toEqual({});
  });

  it('refuses text PostgreSQL cannot keep (NUL) as invalid input, naming the field', async () => {
    const store = await stores.open();
    const error = await store.createTaskType({ name: 'nul\0name' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).problems).toEqual([{ path: ['name'], message: 'must not contain the NUL character (U+0000)', type: 'string.nul' }]);
    // JSON keeps it, escaped; lookups by such text find nothing.
    const type = await store.createTaskType({ name: 'nul' });
    const { task } = await store.createTask({ task_type_id: type.id, parameters: { s: 'a\0b' } });
    expect((await store.getTask(task.id)).parameters).toEqual({ s: 'a\0b' });
    expect(await store.claimTasks({ worker_id: 'w', task_types: ['nul\0'], limit: 1, lease_seconds: 1 })).toEqual([]);
    await expect(store.revokeToken('x\0')).rejects.toThrow("Token 'x\0' not found");
  });
});
