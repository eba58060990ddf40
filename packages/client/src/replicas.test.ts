/**
 * Several server replicas on one PostgreSQL database, as a deployment behind a load balancer runs
 * them: worker processes spread over the replicas take every task exactly once, and a replica
 * killed mid-run loses nothing it acknowledged while the tasks it had leased come back once their
 * leases expire.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { postgresTestUrl } from '@prismq/db/testing/postgres';
import { createTestDatabase, type TestDatabase } from '@prismq/db/testing/postgres-server';
import { api, killAllServerProcesses, startServerProcess, type ServerProcess } from '@prismq/server/process-testing';
import { afterEach, describe, expect, it } from 'vitest';

const REPLICAS = 3;
const WORKERS = 4;
const CONCURRENCY = 8;
const TASKS = 5000;
const fixture = fileURLToPath(new URL('./worker-process.fixture.ts', import.meta.url));

const workers: ChildProcess[] = [];
let database: TestDatabase | undefined;

afterEach(async () => {
  for (const child of workers.splice(0)) child.kill('SIGKILL');
  await killAllServerProcesses();
  await database?.drop();
  database = undefined;
});

/** Starts `count` replicas on a fresh database, all at once (their migrations race). */
async function startReplicas(count: number): Promise<ServerProcess[]> {
  database = await createTestDatabase(postgresTestUrl()!);
  const url = database.url;
  return Promise.all(Array.from({ length: count }, () => startServerProcess({ databasePath: url, env: { LOG_LEVEL: 'info' } })));
}

async function createType(server: ServerProcess, name: string): Promise<number> {
  const res = await api(server.url, 'POST', '/api/task-types', { name });
  expect(res.status, res.text).toBe(201);
  return res.body.id;
}

/** Every task of a type in one status, read page by page (newest first) through one replica. */
async function count(server: ServerProcess, typeId: number, status: string): Promise<number> {
  const res = await api(server.url, 'GET', `/api/tasks?task_type_id=${typeId}&status=${status}&limit=1000`);
  return (res.body as unknown[]).length;
}

describe.skipIf(!postgresTestUrl())('replicas on one PostgreSQL database', () => {
  it(`${WORKERS} worker processes over ${REPLICAS} replicas complete ${TASKS} tasks, each exactly once`, async () => {
    const replicas = await startReplicas(REPLICAS);
    const typeId = await createType(replicas[0]!, 'replicated');
    // Created through every replica in turn.
    for (let i = 0; i < TASKS / 500; i++) {
      const res = await api(replicas[i % REPLICAS]!.url, 'POST', '/api/tasks/batch', {
        tasks: Array.from({ length: 500 }, (_, j) => ({ task_type_id: typeId, priority: ((i + j) % 10) + 1 })),
      });
      expect(res.status, res.text).toBe(201);
    }

    const done: number[] = [];
    for (let w = 0; w < WORKERS; w++) {
      const child = spawn(process.execPath, ['--import', 'tsx', fixture, replicas[w % REPLICAS]!.url, 'replicated', String(CONCURRENCY)], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      workers.push(child);
      let partial = '';
      child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
        const lines = (partial + chunk).split('\n');
        partial = lines.pop()!;
        for (const line of lines) if (line.startsWith('done ')) done.push(Number(line.slice(5)));
      });
    }
    await expect.poll(() => done.length, { timeout: 180_000, interval: 200 }).toBeGreaterThanOrEqual(TASKS);
    // Every task ran once: no id twice, none missing, and the database agrees.
    expect(new Set(done).size).toBe(done.length);
    expect(done).toHaveLength(TASKS);
    for (const status of ['pending', 'running', 'failed']) expect(await count(replicas[1]!, typeId, status), status).toBe(0);
    const tasks = await api(replicas[2]!.url, 'GET', `/api/tasks?task_type_id=${typeId}&status=completed&limit=1000`);
    expect((tasks.body as { attempts: number }[]).every((task) => task.attempts === 1)).toBe(true);
  });

  it('loses nothing a killed replica acknowledged, and its leased tasks are claimed again once their leases expire', async () => {
    const [victim, survivor] = await startReplicas(2);
    const typeId = await createType(survivor!, 'crash');

    // Tasks leased through the victim, with short leases.
    const seeded = await api(survivor!.url, 'POST', '/api/tasks/batch', { tasks: Array.from({ length: 5 }, () => ({ task_type_id: typeId })) });
    expect(seeded.status).toBe(201);
    const leased = await api(victim!.url, 'POST', '/api/tasks/claim', { worker_id: 'doomed', task_type_ids: [typeId], limit: 5, lease_seconds: 2 });
    expect(leased.body).toHaveLength(5);

    // Creates through the victim, answered one after another, until it is killed.
    const acknowledged: number[] = [];
    const creating = (async () => {
      for (;;) {
        const res = await fetch(`${victim!.url}/api/tasks`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ task_type_id: typeId, priority: 1000 }),
        }).catch(() => undefined);
        if (!res) return;
        if (res.status === 201) acknowledged.push(((await res.json()) as { id: number }).id);
      }
    })();
    await expect.poll(() => acknowledged.length, { timeout: 30_000 }).toBeGreaterThanOrEqual(100);
    victim!.child.kill('SIGKILL');
    await Promise.all([once(victim!.child, 'exit'), creating]);

    for (const id of acknowledged) expect((await api(survivor!.url, 'GET', `/api/tasks/${id}`)).status, `task ${id}`).toBe(200);

    // The leases the victim handed out expire, and another worker takes those tasks through the survivor.
    const ids = new Set((leased.body as { id: number }[]).map((task) => task.id));
    const taken: { id: number; attempts: number; worker_id: string }[] = [];
    await expect
      .poll(
        async () => {
          const res = await api(survivor!.url, 'POST', '/api/tasks/claim', { worker_id: 'heir', task_type_ids: [typeId], limit: 100, wait_seconds: 1 });
          taken.push(...(res.body as typeof taken));
          return [...ids].every((id) => taken.some((task) => task.id === id));
        },
        { timeout: 20_000, interval: 100 },
      )
      .toBe(true);
    for (const task of taken.filter((t) => ids.has(t.id))) expect(task).toMatchObject({ attempts: 2, worker_id: 'heir' });
  });
});
