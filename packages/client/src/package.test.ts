/**
 * The client as a service outside this repository gets it: packed (`npm pack`), installed from the
 * tarball with npm into a fresh ES module project and a fresh CommonJS project, each with zod.
 * Each defines a task type once with zod, registers it, creates tasks and runs a worker against a
 * real server; `tsc` (strict, no skipLibCheck) must reject a wrong parameter on the producer and
 * a wrong result in a handler (the `@ts-expect-error` lines fail the build if it does not); and a
 * producer in another language (Python, over REST) sending the wrong parameters gets 422 from the
 * same definition.
 */
import { execFile, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { startTestServer, type TestServer } from '@prismq/server/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const clientDir = fileURLToPath(new URL('..', import.meta.url));
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
const python = spawnSync('python3', ['--version']).status === 0;
let root: string;
let server: TestServer;

/** The consumer's code; NAME is the task type's name, different per project. */
const CONSUMER = `
const url = process.argv[2]!;

const sendEmail = defineTaskType('NAME', {
  parameters: z.object({ to: z.email(), subject: z.string().max(100), copies: z.int().min(1).default(1) }),
  result: z.object({ messageId: z.string() }),
  description: 'Sends one email',
  max_attempts: 2,
});

async function main() {
  const prismq = createPrismqClient({ url });
  const tasks = createTaskClient(prismq, [sendEmail]);
  const first = await tasks.register();
  const again = await tasks.register();

  const task = await tasks.create('NAME', { to: 'ada@example.com', subject: 'Hello' }, { priority: 5 });
  const to: string = task.parameters.to;
  // @ts-expect-error \`to\` must be a string
  void (() => tasks.create('NAME', { to: 42, subject: 'Hello' }));
  // @ts-expect-error \`subject\` is required
  void (() => tasks.create('NAME', { to: 'ada@example.com' }));
  // @ts-expect-error no task type of that name is defined here
  void (() => tasks.create('send_sms', { to: 'ada@example.com' }));

  const worker = createWorker({
    url,
    taskTypes: [sendEmail],
    handleSignals: false,
    logLevel: 'silent',
    handlers: {
      // The parameters come parsed: \`copies\` has its default.
      NAME: async (t) => ({ messageId: \`\${t.parameters.to}/\${t.parameters.copies}\` }),
    },
  });
  // Never called: only type-checked.
  void (() =>
    createWorker({
      url,
      taskTypes: [sendEmail],
      handlers: {
        // @ts-expect-error the result's messageId must be a string
        NAME: async () => ({ messageId: 42 }),
      },
    }));

  const done = await tasks.waitForResult('NAME', task, { timeoutMs: 20_000 });
  const messageId: string = done.result!.messageId;
  await worker.stop();

  let invalid: unknown;
  try {
    await tasks.create('NAME', { to: 'not an address', subject: 'Hello' });
  } catch (error) {
    invalid = error instanceof ValidationError ? { kind: error.kind, status: error.status, fields: [...new Set(error.problems.map((p) => p.loc.join('.')))] } : String(error);
  }
  let missing: unknown;
  try {
    await prismq.tasks.get.query({ task_id: 424242 });
  } catch (error) {
    missing = error instanceof NotFoundError ? { kind: error.kind, status: error.status, detail: error.detail } : String(error);
  }
  const registered = [...first, ...again].map((r) => r.outcome);
  console.log(JSON.stringify({ registered, to, status: done.status, messageId, invalid, missing, typeId: first[0]!.taskType.id }));
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
`;

/**
 * The same imports in both projects: in the CommonJS one (its package.json has no "type": "module"),
 * TypeScript compiles them to require(), so Node.js loads the CommonJS build and TypeScript reads
 * its .d.cts declarations.
 */
const IMPORTS = `
import { z } from 'zod';
import { createPrismqClient, createTaskClient, defineTaskType, NotFoundError, ValidationError } from '@prismq/client';
import { createWorker } from '@prismq/client/worker';
`;

interface Project {
  dir: string;
  typeName: string;
}
const projects: Record<'esm' | 'cjs', Project> = {} as never;

async function makeProject(kind: 'esm' | 'cjs', tarball: string): Promise<Project> {
  const dir = join(root, kind);
  const typeName = `send_email_${kind}`;
  mkdirSync(dir);
  writeFileSync(
    join(dir, 'package.json'),
    JSON.stringify({
      name: `consumer-${kind}`,
      private: true,
      ...(kind === 'esm' ? { type: 'module' } : {}),
      // A TypeScript service on Node.js: our client, zod, and Node's types; nothing else.
      dependencies: { '@prismq/client': `file:../${tarball}`, zod: '4.6.7' },
      devDependencies: { '@types/node': '20.19.43' },
    }),
  );
  writeFileSync(
    join(dir, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, skipLibCheck: false, outDir: 'out', types: ['node'] },
      files: ['consumer.ts'],
    }),
  );
  writeFileSync(join(dir, 'consumer.ts'), IMPORTS + CONSUMER.replaceAll('NAME', typeName));
  await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error'], { cwd: dir });
  return { dir, typeName };
}

beforeAll(async () => {
  server = await startTestServer();
  root = mkdtempSync(join(tmpdir(), 'prismq-consumer-'));
  await run('npm', ['pack', '--silent', '--pack-destination', root], { cwd: clientDir });
  const tarball = readdirSync(root).find((f) => f.endsWith('.tgz'))!;
  const [esm, cjs] = await Promise.all([makeProject('esm', tarball), makeProject('cjs', tarball)]);
  Object.assign(projects, { esm, cjs });
}, 240_000);

afterAll(async () => {
  await server?.close();
  if (root) rmSync(root, { recursive: true, force: true });
});

/** Type-checks and compiles a project (the @ts-expect-error lines must each find an error), then runs it against the server. */
async function compileAndRun({ dir }: Project) {
  try {
    await run(process.execPath, [tsc, '-p', '.'], { cwd: dir });
  } catch (error) {
    throw new Error(`tsc failed:\n${(error as { stdout: string }).stdout}`, { cause: error });
  }
  // Asynchronously: the server under test runs in this process and must keep answering.
  const { stdout } = await run(process.execPath, [join(dir, 'out', 'consumer.js'), server.url]);
  return JSON.parse(stdout) as Record<string, unknown>;
}

const expected = {
  registered: ['created', 'unchanged'],
  to: 'ada@example.com',
  status: 'completed',
  messageId: 'ada@example.com/1',
  invalid: { kind: 'validation', status: 422, fields: ['input.parameters.to'] },
  missing: { kind: 'not_found', status: 404, detail: 'Task 424242 not found' },
};

describe('@prismq/client as an installed package', () => {
  it('an ES module project: a task type defined once with zod, registered, produced and worked, typed end to end', async () => {
    const output = await compileAndRun(projects.esm);
    expect(output).toMatchObject(expected);
  });

  it('a CommonJS project: the same, through require()', async () => {
    const output = await compileAndRun(projects.cjs);
    expect(output).toMatchObject(expected);
    const script = "const c = require('@prismq/client'); const w = require('@prismq/client/worker'); const e = new c.LeaseLostError({ status: 409, detail: 'x' }); console.log(typeof c.createPrismqClient, typeof w.createWorker, e.name, e instanceof c.ConflictError)";
    const { stdout } = await run(process.execPath, ['-e', script], { cwd: projects.cjs.dir });
    expect(stdout.trim()).toBe('function function LeaseLostError true');
  });

  it.skipIf(!python)('a Python producer sending parameters that break the definition gets 422 naming the field', async () => {
    const type = await server.request('GET', `/api/task-types/by-name/${projects.esm.typeName}`);
    expect(type.status, 'the ES module project registers the type').toBe(200);
    const script = `
import json, sys, urllib.request, urllib.error
body = json.dumps({"task_type_id": int(sys.argv[2]), "parameters": {"to": "not an address", "subject": "x" * 101}}).encode()
request = urllib.request.Request(sys.argv[1] + "/api/tasks", data=body, headers={"content-type": "application/json"}, method="POST")
try:
    urllib.request.urlopen(request)
    print(json.dumps({"status": 201}))
except urllib.error.HTTPError as error:
    print(json.dumps({"status": error.code, "body": json.loads(error.read())}))
`;
    const { stdout } = await run('python3', ['-c', script, server.url, String(type.body.id)]);
    const answer = JSON.parse(stdout) as { status: number; body: { detail: { loc: string[] }[] } };
    expect(answer.status).toBe(422);
    // One problem or more per field (zod writes an email as a format and a pattern).
    expect([...new Set(answer.body.detail.map((p) => p.loc.join('.')))].sort()).toEqual(['body.parameters.subject', 'body.parameters.to']);
  });
});
