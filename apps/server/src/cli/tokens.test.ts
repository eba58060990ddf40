import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { api, killAllServerProcesses, removeTempDirs, startServerProcess, tempDir } from '../process-testing.js';

const serverDir = fileURLToPath(new URL('../..', import.meta.url));

afterEach(async () => {
  await killAllServerProcesses();
  removeTempDirs();
});

/** Runs `pnpm tokens …` as the package script does; resolves with its output and exit code. */
async function tokens(databasePath: string, ...args: string[]) {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'src/cli/tokens.ts', ...args], {
      cwd: serverDir,
      env: { PATH: process.env.PATH, DATABASE_URL: databasePath },
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const { code, stdout, stderr } = error as { code: number; stdout: string; stderr: string };
    return { code, stdout, stderr };
  }
}

describe('pnpm tokens', () => {
  it('creates a token that a running server accepts at once, lists it without its secret, and revokes it', async () => {
    const databasePath = join(tempDir(), 'api.db');
    const server = await startServerProcess({ databasePath });
    expect((await api(server.url, 'GET', '/api/tasks')).status).toBe(200);

    const created = await tokens(databasePath, 'create', '--name', 'billing', '--scopes', 'producer,read');
    expect(created.code).toBe(0);
    const token = /^(pq_\d+_[\w-]{43})$/m.exec(created.stdout)?.[1];
    expect(token, created.stdout).toBeDefined();

    // A token now exists: the loopback server requires one.
    expect((await api(server.url, 'GET', '/api/tasks')).status).toBe(401);
    const withToken = await fetch(`${server.url}/api/tasks`, { headers: { authorization: `Bearer ${token}` } });
    expect(withToken.status).toBe(200);

    const listed = await tokens(databasePath, 'list');
    expect(listed.stdout).toMatch(/^1\tbilling\tproducer,read\tcreated /m);
    expect(listed.stdout).not.toContain(token!.replace(/^pq_\d+_/, ''));

    expect((await tokens(databasePath, 'revoke', 'billing')).stdout).toMatch(/Revoked token 'billing'/);
    const revoked = await fetch(`${server.url}/api/task-types`, { headers: { authorization: `Bearer ${token}` } });
    expect(revoked.status).toBe(401);
    // No live token is left, and tokens stay required: revoking never opens the API.
    expect((await api(server.url, 'GET', '/api/tasks')).status).toBe(401);
    expect((await tokens(databasePath, 'list')).stdout).toMatch(/revoked /);
  }, 60_000);

  it('refuses bad input with a usage message and a non-zero exit', async () => {
    const databasePath = join(tempDir(), 'api.db');
    for (const args of [['create', '--name', 'x'], ['create', '--name', 'x', '--scopes', 'root'], ['revoke'], ['frobnicate']]) {
      const result = await tokens(databasePath, ...args);
      expect(result.code, args.join(' ')).not.toBe(0);
      expect(result.stderr).toMatch(/^tokens: .+\nusage:/);
    }
    await tokens(databasePath, 'create', '--name', 'twice', '--scopes', 'read');
    const again = await tokens(databasePath, 'create', '--name', 'twice', '--scopes', 'read');
    expect(again.code).not.toBe(0);
    expect(again.stderr).toMatch(/already exists/);
    expect((await tokens(databasePath, 'revoke', 'nobody')).stderr).toMatch(/not found/);
  }, 60_000);
});

describe('a server reachable from other machines', () => {
  it('refuses to start without a token unless AUTH=off', async () => {
    const databasePath = join(tempDir(), 'api.db');
    await expect(startServerProcess({ databasePath, env: { HOST: '0.0.0.0' } })).rejects.toThrow(/no live API token exists.*AUTH=off/s);
  }, 30_000);
});
