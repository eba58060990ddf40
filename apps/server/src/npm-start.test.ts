/**
 * The server started as the README says, `npm start` in the repository root: npm runs the root
 * script, which installs with pnpm and has turbo run the server's start script through pnpm in
 * apps/server. turbo hands a task only the variables turbo.json lists, and pnpm sets INIT_CWD to
 * apps/server: the user's configuration must still arrive, and a relative DATABASE_URL must be
 * taken from the folder the command was run in.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { api, killAllServerProcesses, repoRoot, serverDir, startServerProcess } from './process-testing.js';

const databases: string[] = [];
afterEach(async () => {
  await killAllServerProcesses();
  for (const path of databases.splice(0)) {
    for (const suffix of ['', '-wal', '-shm']) rmSync(path + suffix, { force: true });
  }
});

describe('npm start, as the README says', () => {
  it('is the README’s start command', () => {
    expect(readFileSync(join(repoRoot, 'README.md'), 'utf8')).toMatch(/^npm start +# installs the dependencies and serves/m);
  });

  it('passes the configuration on: BODY_LIMIT, MAX_LONG_POLLS, and DATABASE_URL relative to where it was run', async () => {
    // A bare file name (*.db files are ignored by git): where it lands tells which folder it was taken from.
    const name = `npm-start-${randomUUID().slice(0, 8)}.db`;
    const wanted = join(repoRoot, name);
    const inPackage = join(serverDir, name);
    databases.push(wanted, inPackage);

    const server = await startServerProcess({ as: 'npm start', env: { DATABASE_URL: name, BODY_LIMIT: '2048', MAX_LONG_POLLS: '0' } });
    expect(existsSync(wanted), `${name} in the repository root`).toBe(true);
    expect(existsSync(inPackage), `${name} in apps/server`).toBe(false);

    // 3 KB: under the default limit (1 MiB), over BODY_LIMIT.
    const large = await api(server.url, 'POST', '/api/task-types', { name: 'large', description: 'x'.repeat(3 * 1024) });
    expect(large.status, large.text.slice(0, 200)).toBe(413);
    const small = await api(server.url, 'POST', '/api/task-types', { name: 'small' });
    expect(small.status, small.text).toBe(201);

    // No claim may wait: one with wait_seconds answers 429 at once (it would wait a second, then 200).
    const claim = await api(server.url, 'POST', '/api/tasks/claim', { worker_id: 'w', task_type_ids: [small.body.id], wait_seconds: 1 });
    expect(claim.status, claim.text).toBe(429);

    // SIGTERM to npm's process group; turbo passes it on to the server, which stops.
    await server.stop('SIGTERM');
    expect(server.output().stdout).toMatch(/"msg":"stopped"/);
  }, 240_000);
});
