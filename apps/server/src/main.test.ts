import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { killAllServerProcesses, removeTempDirs, spawnServerProcess, startServerProcess, tempDir, type RunAs } from './process-testing.js';

afterEach(async () => {
  await killAllServerProcesses();
  removeTempDirs();
});

describe('the server process', () => {
  it.each<[string, RunAs]>([
    ['from source', 'source'],
    ['as `pnpm start` runs it (the bundle, with its Node flags)', 'bundle'],
  ])('%s: creates its database folder, migrates an empty database, serves, and exits 0 on SIGTERM', async (_how, as) => {
    const databasePath = join(tempDir('prismq-main-'), 'nested', 'folder', 'api.db');
    const { url, stop } = await startServerProcess({ as, databasePath });
    expect(existsSync(databasePath)).toBe(true);

    const created = await fetch(`${url}/api/task-types`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'from_a_process' }),
    });
    expect(created.status).toBe(201);
    expect((await fetch(`${url}/healthz`)).status).toBe(200);

    expect(await stop('SIGTERM')).toBe(0);
  });

  it.each([
    [{ PORT: 'abc' }, 'PORT'],
    [{ LOG_LEVEL: 'chatty' }, 'LOG_LEVEL'],
  ])('refuses to start on a bad %j with one line naming the variable', async (env, name) => {
    const { exited, output } = spawnServerProcess({ databasePath: join(tempDir('prismq-main-'), 'api.db'), env });
    expect(await exited).not.toBe(0);
    const lines = output().stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(name);
  });

  it('refuses to start, naming DATABASE_URL, when the database cannot be opened', async () => {
    const { exited, output } = spawnServerProcess({ databasePath: tempDir('prismq-main-') }); // a folder, not a file
    expect(await exited).not.toBe(0);
    expect(output().stderr.trim().split('\n')).toHaveLength(1);
    expect(output().stderr).toContain('DATABASE_URL');
  });
});
