/**
 * Shutdown when the final checkpoint cannot run: the server process runs under a file size limit
 * (`ulimit -f`) the size of its database file, so that the WAL can take writes but the checkpoint,
 * which must grow the database file to hold them, fails (EFBIG, as SQLITE_IOERR_WRITE), as it
 * would on a nearly full disk. SIGTERM must still exit 0, and nothing acknowledged is lost: the
 * WAL is replayed at the next open.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { SqliteTaskStore } from '@prismq/db';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { api, removeTempDirs, tempDir } from './process-testing.js';
import { FROM_SOURCE, serverDir, startScriptArguments } from './start-command.js';

const children: ChildProcess[] = [];
afterEach(() => {
  for (const child of children.splice(0)) child.kill('SIGKILL');
  removeTempDirs();
});


/** Starts the server with `node args` under a file size limit; resolves with its URL once it listens. */
async function startLimited(databasePath: string, limitKiB: number, args: string[]) {
  // Node ignores SIGXFSZ, so a write past the limit fails with EFBIG instead of killing it.
  const child = spawn('bash', ['-c', `ulimit -f ${limitKiB} && exec "$0" "$@"`, process.execPath, ...args], {
    cwd: serverDir,
    env: { PATH: process.env.PATH, PORT: '0', DATABASE_URL: databasePath, LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  let url: string | undefined;
  while (!url) {
    if (child.exitCode !== null) throw new Error(`server exited: ${stderr || stdout}`);
    url = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(stdout)?.[1];
    if (!url) await Promise.race([once(child.stdout, 'data'), once(child, 'exit')]);
  }
  return { child, url, output: () => ({ stdout, stderr }) };
}

describe('shutdown when the final checkpoint fails', () => {
  it.each([
    ['from source', () => FROM_SOURCE],
    ['as `pnpm start` runs it', startScriptArguments],
  ])('%s: exits 0 on SIGTERM, warns that the WAL will be replayed, and the next open has every acknowledged write', async (_how, args) => {
    const databasePath = join(tempDir(), 'api.db');
    // A database of some size, checkpointed, with no free page: new tasks need it to grow.
    const seed = new SqliteTaskStore(databasePath);
    const seedType = await seed.createTaskType({ name: 'seed' });
    await seed.createTasks(Array.from({ length: 50 }, (_, n) => ({ task_type_id: seedType.id, parameters: { n, filler: 'x'.repeat(10_000) } })));
    await seed.close();
    const limitKiB = Math.ceil(statSync(databasePath).size / 1024);

    const server = await startLimited(databasePath, limitKiB, args());
    const type = await api(server.url, 'POST', '/api/task-types', { name: 'last_words' });
    expect(type.status).toBe(201);
    const acknowledged: number[] = [];
    for (let n = 0; n < 3; n++) {
      const res = await api(server.url, 'POST', '/api/tasks', { task_type_id: type.body.id, parameters: { n, filler: 'y'.repeat(10_000) } });
      expect(res.status, res.text).toBe(201);
      acknowledged.push(res.body.id);
    }

    server.child.kill('SIGTERM');
    const [code] = await once(server.child, 'exit');
    expect(code, server.output().stderr).toBe(0);
    const { stdout } = server.output();
    expect(stdout).toMatch(/"level":40,.*the WAL will be replayed at the next start/);
    expect(stdout).toMatch(/SQLITE_IOERR_WRITE/);
    expect(stdout).toMatch(/"msg":"stopped"/);

    // The WAL is still there, and opening the database replays it.
    expect(statSync(`${databasePath}-wal`).size).toBeGreaterThan(0);
    const db = new Database(databasePath);
    try {
      const rows = db.prepare('select id, parameters from task_list where task_type_id = ? order by id').all(type.body.id) as {
        id: number;
        parameters: string;
      }[];
      expect(rows.map((row) => row.id)).toEqual(acknowledged);
      expect(rows.map((row) => JSON.parse(row.parameters).n)).toEqual([0, 1, 2]);
      expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
    } finally {
      db.close();
    }
  }, 60_000);
});
