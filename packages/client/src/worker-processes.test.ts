import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { startTestServer, type TestServer } from '@prismq/server/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPrismqClient } from './index.js';

const PROCESSES = 4;
const CONCURRENCY = 8;
const TASKS = 2000;
const fixture = fileURLToPath(new URL('./worker-process.fixture.ts', import.meta.url));

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server.close());

function countByStatus(typeId: number): Record<string, number> {
  const rows = server.sqlite!.db.$client
    .prepare('select status, count(*) as n from task_list where task_type_id = ? group by status')
    .all(typeId) as { status: string; n: number }[];
  return Object.fromEntries(rows.map((r) => [r.status, r.n]));
}

describe('worker processes sharing one queue', () => {
  it(`${PROCESSES} processes complete ${TASKS} tasks, each exactly once, and drain on SIGTERM`, async () => {
    const client = createPrismqClient({ url: server.url });
    const type = await client.taskTypes.create.mutate({ name: 'shared_queue' });
    for (let i = 0; i < TASKS; i += 1000) {
      await client.tasks.createBatch.mutate({
        tasks: Array.from({ length: 1000 }, (_, j) => ({ task_type_id: type.id, priority: ((i + j) % 10) + 1 })),
      });
    }

    const workers = Array.from({ length: PROCESSES }, () => {
      const child = spawn(process.execPath, ['--import', 'tsx', fixture, server.url, type.name, String(CONCURRENCY)], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk) => (stdout += chunk));
      child.stderr.on('data', (chunk) => (stderr += chunk));
      return { child, output: () => ({ stdout, stderr }), exited: once(child, 'exit') };
    });

    // Wait, by polling the database, until every task is settled.
    const deadline = Date.now() + 120_000;
    while ((countByStatus(type.id).completed ?? 0) < TASKS) {
      if (Date.now() > deadline) throw new Error(`not all tasks completed: ${JSON.stringify(countByStatus(type.id))}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }

    for (const w of workers) w.child.kill('SIGTERM');
    const exits = await Promise.all(workers.map((w) => w.exited));
    expect(exits.map(([code]) => code)).toEqual(Array(PROCESSES).fill(0));

    const ran = workers.flatMap((w) => [...w.output().stdout.matchAll(/^done (\d+)$/gm)].map((m) => Number(m[1])));
    expect(ran).toHaveLength(TASKS);
    expect(new Set(ran).size).toBe(TASKS);
    // Every process took part.
    for (const w of workers) expect(w.output().stdout).toMatch(/^done \d+$/m);

    expect(countByStatus(type.id)).toEqual({ completed: TASKS });
    const attempts = server.sqlite!.db.$client
      .prepare('select max(attempts) as most, min(attempts) as least from task_list where task_type_id = ?')
      .get(type.id);
    expect(attempts).toEqual({ most: 1, least: 1 });
  }, 180_000);
});
