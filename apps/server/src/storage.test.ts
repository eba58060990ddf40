/**
 * The storage failing under a running server: a full disk (simulated with SQLite's
 * max_page_count, which fails a write that needs a new page with SQLITE_FULL, as a full disk
 * does) and the database file deleted or replaced. Writes answer 507 or 503 naming the cause,
 * on REST and tRPC alike; /readyz says so and comes back by itself once the cause is gone;
 * nothing is acknowledged that is not in the database.
 */
import { copyFileSync, renameSync } from 'node:fs';
import { StorageError } from '@prismq/db';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { startTestServer, testEngine, type TestServer } from './testing.js';

const servers: TestServer[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) await server.close();
});

async function start(): Promise<TestServer> {
  const server = await startTestServer();
  servers.push(server);
  return server;
}

/** Parameters too big for the free room of any page: a task with them needs new pages. */
const big = (n: number) => ({ n, filler: 'x'.repeat(20_000) });

/** The database can hold no page more than it has now, as if its disk were full. */
function fillDisk(server: TestServer): void {
  const client = server.sqlite!.db.$client;
  client.pragma(`max_page_count = ${client.pragma('page_count', { simple: true }) as number}`);
}

function freeDisk(server: TestServer): void {
  server.sqlite!.db.$client.pragma('max_page_count = 1073741823');
}

describe.skipIf(testEngine !== 'sqlite')('a full disk', () => {
  it('answers creates 507 naming the cause on REST and tRPC, /readyz 503 until there is room again, and loses nothing acknowledged', async () => {
    const server = await start();
    const type = (await server.request('POST', '/api/task-types', { name: 'filling' })).body;
    const acknowledged: number[] = [];
    for (let n = 0; n < 3; n++) {
      const res = await server.request('POST', '/api/tasks', { task_type_id: type.id, parameters: big(n) });
      expect(res.status).toBe(201);
      acknowledged.push(res.body.id);
    }
    expect((await server.request('GET', '/readyz')).status).toBe(200);

    fillDisk(server);
    const rest = await server.request('POST', '/api/tasks', { task_type_id: type.id, parameters: big(3) });
    expect(rest.status).toBe(507);
    expect(rest.body).toEqual({ detail: expect.stringMatching(/^The database disk is full: .*SQLITE_FULL/) });

    const trpc = await server.request('POST', '/trpc/tasks.create', { task_type_id: type.id, parameters: big(4) });
    expect(trpc.status).toBe(507);
    expect(trpc.body.error.data).toMatchObject({ httpStatus: 507, detail: rest.body.detail });
    expect(trpc.body.error.message).toBe(rest.body.detail);

    // Not ready while writes fail, however often it is asked (each time it tries a write).
    for (let i = 0; i < 2; i++) {
      const ready = await server.request('GET', '/readyz');
      expect(ready.status).toBe(503);
      expect(ready.body.detail).toMatch(/^The database disk is full: /);
    }

    // Room again: /readyz sees it by itself, with no other request in between.
    freeDisk(server);
    await expect.poll(async () => (await server.request('GET', '/readyz')).status).toBe(200);

    const after = await server.request('POST', '/api/tasks', { task_type_id: type.id, parameters: big(5) });
    expect(after.status).toBe(201);
    acknowledged.push(after.body.id);
    for (const id of acknowledged) {
      const task = await server.request('GET', `/api/tasks/${id}`);
      expect(task.status, `task ${id}`).toBe(200);
    }
    const listed = (await server.request('GET', `/api/tasks?task_type_id=${type.id}&limit=100`)).body;
    expect(listed.map((task: { parameters: { n: number } }) => task.parameters.n).sort()).toEqual([0, 1, 2, 5]);
  });
});

describe.skipIf(testEngine !== 'sqlite')('the database file deleted or replaced under a running server', () => {
  it('answers writes 503 without acknowledging them and /readyz 503, until the file is back', async () => {
    const server = await start();
    const type = (await server.request('POST', '/api/task-types', { name: 'moving' })).body;
    const before = await server.request('POST', '/api/tasks', { task_type_id: type.id, parameters: { n: 1 } });
    expect(before.status).toBe(201);

    // Deleted, as far as the path goes: the open connection still has the old file.
    renameSync(server.databasePath, `${server.databasePath}.away`);
    const ready = await server.request('GET', '/readyz');
    expect(ready.status).toBe(503);
    expect(ready.body.detail).toMatch(/was deleted or replaced while the server was running/);

    const refused = await server.request('POST', '/api/tasks', { task_type_id: type.id, parameters: { n: 2 } });
    expect(refused.status).toBe(503);
    expect(refused.body.detail).toBe(`The database is unavailable: the database file ${server.databasePath} was deleted or replaced while the server was running; restore it or restart the server`);
    const trpc = await server.request('POST', '/trpc/tasks.create', { task_type_id: type.id, parameters: { n: 3 } });
    expect(trpc.status).toBe(503);
    expect(trpc.body.error.data.httpStatus).toBe(503);

    // A copy in its place is another file: still refused.
    copyFileSync(`${server.databasePath}.away`, server.databasePath);
    expect((await server.request('POST', '/api/tasks', { task_type_id: type.id, parameters: { n: 4 } })).status).toBe(503);
    expect((await server.request('GET', '/readyz')).status).toBe(503);

    // The file itself back: ready again by itself, and writes are taken.
    renameSync(`${server.databasePath}.away`, server.databasePath);
    await expect.poll(async () => (await server.request('GET', '/readyz')).status).toBe(200);
    const after = await server.request('POST', '/api/tasks', { task_type_id: type.id, parameters: { n: 5 } });
    expect(after.status).toBe(201);

    // What another connection (or the next start) finds: the acknowledged tasks, and none of the refused.
    const other = new Database(server.databasePath, { readonly: true });
    try {
      const stored = other.prepare('select parameters from task_list order by id').pluck().all() as string[];
      expect(stored.map((parameters) => JSON.parse(parameters).n)).toEqual([1, 5]);
    } finally {
      other.close();
    }
  });
});

describe.skipIf(testEngine !== 'sqlite')('a storage failure met outside a procedure', () => {
  it('answers its status and cause, not 500 "Internal server error" (here: /metrics reading the queue depth)', async () => {
    const server = await start();
    // A read failing for storage, which cannot be caused in-process: the store's error stands in for it.
    const detail = 'The database is unavailable: disk I/O error (SQLITE_IOERR_READ) on api.db; check its disk';
    vi.spyOn(server.store, 'countTasks').mockRejectedValue(new StorageError('unavailable', detail, 'SQLITE_IOERR_READ'));
    const res = await server.request('GET', '/metrics');
    expect(res.status).toBe(503);
    expect(res.body).toEqual({ detail });
  });
});
