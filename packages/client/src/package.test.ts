/**
 * The client as a service outside this repository gets it: packed, installed from the tarball
 * with npm into an empty project, both entry points (`@prismq/client`, `@prismq/client/worker`)
 * type-checked with strict settings (no skipLibCheck), compiled and run against a real server.
 */
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startTestServer, type TestServer } from '@prismq/server/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const clientDir = fileURLToPath(new URL('..', import.meta.url));
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
let project: string;
let server: TestServer;

const CONSUMER = `
import { createPrismqClient, errorInfo, type Task } from '@prismq/client';
import { createWorker, type WorkerOptions } from '@prismq/client/worker';

const prismq = createPrismqClient({ url: process.argv[2]! });
const type = await prismq.taskTypes.create.mutate({ name: 'outside', metadata: { team: 'billing' } });
const task: Task = await prismq.tasks.create.mutate({ task_type_id: type.id, priority: 7 });
const name: string = type.name;
// @ts-expect-error priority must be a number
void (() => prismq.tasks.create.mutate({ task_type_id: type.id, priority: 'high' }));
// @ts-expect-error there is no such procedure
void (() => prismq.tasks.explode.mutate({}));
let missing: unknown;
try {
  await prismq.tasks.get.query({ task_id: 424242 });
} catch (error) {
  missing = errorInfo(error);
}
const options: WorkerOptions<{ outside: { n: number } }> = { url: process.argv[2]!, handlers: { outside: (task) => task.parameters.n + 1 } };
console.log(JSON.stringify({ name, priority: task.priority, status: task.status, missing, worker: typeof createWorker, handlers: Object.keys(options.handlers) }));
`;

beforeAll(async () => {
  server = await startTestServer();
  project = mkdtempSync(join(tmpdir(), 'prismq-consumer-'));
  execFileSync('npm', ['pack', '--silent', '--pack-destination', project], { cwd: clientDir, stdio: 'pipe' });
  const tarball = readdirSync(project).find((f) => f.endsWith('.tgz'));
  writeFileSync(
    join(project, 'package.json'),
    JSON.stringify({
      name: 'consumer',
      private: true,
      type: 'module',
      // A TypeScript service on Node.js: our client and Node's types, nothing else.
      dependencies: { '@prismq/client': `file:./${tarball}` },
      devDependencies: { '@types/node': '20.19.43' },
    }),
  );
  writeFileSync(
    join(project, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, skipLibCheck: false, outDir: 'out', types: ['node'] },
      files: ['consumer.ts'],
    }),
  );
  writeFileSync(join(project, 'consumer.ts'), CONSUMER);
  execFileSync('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error'], { cwd: project, stdio: 'pipe' });
}, 180_000);

afterAll(async () => {
  await server?.close();
  if (project) rmSync(project, { recursive: true, force: true });
});

describe('@prismq/client as an installed package', () => {
  it('type-checks a strict consumer and runs against a server', async () => {
    try {
      execFileSync(process.execPath, [tsc, '-p', '.'], { cwd: project, stdio: 'pipe' });
    } catch (error) {
      throw new Error(`tsc failed:\n${(error as { stdout: Buffer }).stdout.toString()}`, { cause: error });
    }
    // Asynchronously: the server under test runs in this process and must keep answering.
    const { stdout } = await promisify(execFile)(process.execPath, [join(project, 'out', 'consumer.js'), server.url]);
    expect(JSON.parse(stdout)).toEqual({
      name: 'outside',
      priority: 7,
      status: 'pending',
      missing: { code: 'NOT_FOUND', httpStatus: 404, detail: 'Task 424242 not found' },
      worker: 'function',
      handlers: ['outside'],
    });
  });
});
