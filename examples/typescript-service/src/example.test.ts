/**
 * The README's TypeScript example, as a user runs it: the worker and the producer as processes
 * (`pnpm … worker`, `pnpm … producer`, which run tsx) against a real server. The producer
 * registers the type, its tasks are worked and their results printed; an address that breaks the
 * definition is refused with 422; the worker stops on SIGTERM with exit code 0.
 */
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { startTestServer, type TestServer } from '@prismq/server/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const dir = fileURLToPath(new URL('..', import.meta.url));
let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server?.close());

/** As the package scripts run them: node with tsx, in this folder. */
const script = (file: string) => [process.execPath, ['--import', 'tsx', file]] as const;

describe('the TypeScript service example', () => {
  it('registers its type, sends tasks that its worker completes, refuses a bad address, and stops on SIGTERM', async () => {
    const env = { PATH: process.env.PATH, PRISMQ_URL: server.url };
    const [node, args] = script('src/worker.ts');
    const worker = spawn(node, args, { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let log = '';
    worker.stdout.on('data', (chunk: Buffer) => (log += chunk));
    worker.stderr.on('data', (chunk: Buffer) => (log += chunk));
    try {
      const [pnode, pargs] = script('src/producer.ts');
      const { stdout } = await promisify(execFile)(pnode, [...pargs, 'ada@example.com', 'not-an-address'], { cwd: dir, env });
      const lines = stdout.trim().split('\n');
      expect(lines[0]).toBe('task type send_email: created');
      expect(lines[1]).toMatch(/^task \d+ to ada@example\.com: completed [0-9a-f-]{36}@example\.com$/);
      expect(lines[2]).toMatch(/^not-an-address: refused: parameters\.to: /);
      // The worker's log (pino, JSON lines) says it started.
      expect(log).toMatch(/"msg":"worker started"/);
    } finally {
      worker.kill('SIGTERM');
    }
    const [code] = await once(worker, 'exit');
    expect(code, log).toBe(0);
    expect(log).toMatch(/"msg":"worker stopped"/);
  });
});
