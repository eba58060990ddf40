/**
 * The Python worker example (examples/python-worker/worker.py) against a real server: it settles
 * each task and claims the next in one exchange, reports a handler's progress, records a
 * handler's exception as a failed attempt, and on SIGTERM reports the task in hand and exits 0. Another language speaking the
 * REST contract, as existing services do.
 */
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './testing.js';

const WORKER = fileURLToPath(new URL('../../../examples/python-worker/worker.py', import.meta.url));
const python = spawnSync('python3', ['--version']).status === 0;

describe.skipIf(!python)('the Python worker example', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(() => server?.close());

  it('runs tasks through exchanges, reports progress, fails the one whose handler raises, and stops on SIGTERM', async () => {
    const type = await server.request('POST', '/api/task-types', { name: 'data_analysis', max_attempts: 1 });
    expect(type.status).toBe(201);
    const create = async (parameters: object) => (await server.request('POST', '/api/tasks', { task_type_id: type.body.id, parameters })).body.id as number;
    const good = [await create({ rows: 100 }), await create({ rows: 5 })];
    const bad = await create({ rows: -1 });

    const worker = spawn('python3', [WORKER, 'data_analysis'], { env: { PATH: process.env.PATH, PRISMQ_URL: server.url }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    worker.stdout.on('data', (chunk: Buffer) => (output += chunk));
    worker.stderr.on('data', (chunk: Buffer) => (output += chunk));
    const status = async (id: number) => (await server.request('GET', `/api/tasks/${id}`)).body;
    try {
      for (const id of good) await expect.poll(async () => (await status(id)).status, { timeout: 15_000 }).toBe('completed');
      expect((await status(good[0]!)).result).toEqual({ clusters: 5 });
      // The handler reported its progress half-way: on the task, and on its attempt.
      expect(await status(good[0]!)).toMatchObject({ progress: 50, progress_message: 'clustering 100 rows' });
      const attempts = (await server.request('GET', `/api/tasks/${good[0]}/attempts`)).body;
      expect(attempts).toEqual([expect.objectContaining({ outcome: 'completed', progress: 50, progress_message: 'clustering 100 rows', heartbeats: 1 })]);
      await expect.poll(async () => (await status(bad)).status, { timeout: 15_000 }).toBe('failed');
      expect((await status(bad)).error_message).toMatch(/rows must be a non-negative integer/);

      // A task taken while stopping is finished and reported before the worker exits.
      const last = await create({ rows: 1, seconds: 0.5 });
      await expect.poll(async () => (await status(last)).status, { timeout: 15_000 }).toBe('running');
      worker.kill('SIGTERM');
      const [code] = await once(worker, 'exit');
      expect(code, output).toBe(0);
      expect((await status(last)).status).toBe('completed');
    } finally {
      worker.kill('SIGKILL');
    }
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    // Every claim and settle went by the exchange: no single-step calls.
    expect(metrics).toMatch(/route="\/api\/tasks\/exchange"/);
    expect(metrics).not.toMatch(/route="\/api\/tasks\/(claim|\{task_id\}\/complete|\{task_id\}\/fail)"/);
  });
});
