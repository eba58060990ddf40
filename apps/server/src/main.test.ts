import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { FROM_SOURCE, serverDir, startScriptArguments } from './start-command.js';

const dirs: string[] = [];
const children: ChildProcess[] = [];

afterEach(() => {
  for (const child of children.splice(0)) child.kill('SIGKILL');
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});


/** Runs the server's entry point in its own process. */
function startMain(env: Record<string, string>, args = FROM_SOURCE) {
  const child = spawn(process.execPath, args, {
    cwd: serverDir,
    env: { PATH: process.env.PATH, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => (stdout += chunk));
  child.stderr.on('data', (chunk) => (stderr += chunk));
  return { child, output: () => ({ stdout, stderr }) };
}

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'prismq-main-'));
  dirs.push(dir);
  return dir;
}

describe('the server process', () => {
  it.each([
    ['from source', () => FROM_SOURCE],
    ['as `pnpm start` runs it (the bundle, with its Node flags)', startScriptArguments],
  ])('%s: creates its database folder, migrates an empty database, serves, and exits 0 on SIGTERM', async (_how, args) => {
    const databasePath = join(tempDir(), 'nested', 'folder', 'api.db');
    const { child, output } = startMain({ PORT: '0', DATABASE_URL: databasePath, LOG_LEVEL: 'info' }, args());

    let url: string | undefined;
    while (!url) {
      if (child.exitCode !== null) throw new Error(`server exited: ${output().stderr}`);
      url = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(output().stdout)?.[1];
      if (!url) await Promise.race([once(child.stdout!, 'data'), once(child, 'exit')]);
    }
    expect(existsSync(databasePath)).toBe(true);

    const created = await fetch(`${url}/api/task-types`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'from_a_process' }),
    });
    expect(created.status).toBe(201);
    expect((await fetch(`${url}/healthz`)).status).toBe(200);

    child.kill('SIGTERM');
    const [code] = await once(child, 'exit');
    expect(code).toBe(0);
  });

  it.each([
    [{ PORT: 'abc' }, 'PORT'],
    [{ LOG_LEVEL: 'chatty' }, 'LOG_LEVEL'],
  ])('refuses to start on a bad %j with one line naming the variable', async (env, name) => {
    const { child, output } = startMain({ DATABASE_URL: join(tempDir(), 'api.db'), ...env });
    const [code] = await once(child, 'exit');
    expect(code).not.toBe(0);
    const lines = output().stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(name);
  });

  it('refuses to start, naming DATABASE_URL, when the database cannot be opened', async () => {
    const dir = tempDir();
    const { child, output } = startMain({ DATABASE_URL: dir, PORT: '0' }); // a folder, not a file
    const [code] = await once(child, 'exit');
    expect(code).not.toBe(0);
    expect(output().stderr.trim().split('\n')).toHaveLength(1);
    expect(output().stderr).toContain('DATABASE_URL');
  });
});
