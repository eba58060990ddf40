/**
 * Shutdown when the final checkpoint cannot run: the server process runs under a file size limit
 * (`ulimit -f`) the size of its database file, so that the WAL can take writes but the checkpoint,
 * which must grow the database file to hold them, fails (EFBIG, as SQLITE_IOERR_WRITE), as it
 * would on a nearly full disk. SIGTERM must still exit 0, and nothing acknowledged is lost: the
 * WAL is replayed at the next open.
 */
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { SqliteTaskStore } from '@prismq/db';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { api, killAllServerProcesses, removeTempDirs, startServerProcess, tempDir, type RunAs } from './process-testing.js';

afterEach(async () => {
  await killAllServerProcesses();
  removeTempDirs();
});

describe('shutdown when the final checkpoint fails', () => {
  it.each<[string, RunAs]>([
    ['from source', 'source'],
    ['as `pnpm start` runs it', 'bundle'],
  ])('%s: exits 0 on SIGTERM, warns that the WAL will be replayed, and the next open has every acknowledged write', async (_how, as) => {
    const databasePath = join(tempDir(), 'api.db');
    // A database of some size, checkpointed, with no free page: new tasks need it to grow.
    const seed = new SqliteTaskStore(databasePath);
    const seedType = await seed.createTaskType({ name: 'seed' });
    await seed.createTasks(Array.from({ length: 50 }, (_, n) => ({ task_type_id: seedType.id, parameters: { n, filler: 'x'.repeat(10_000) } })));
    await seed.close();
    const limitKiB = Math.ceil(statSync(databasePath).size / 1024);

    // Node ignores SIGXFSZ, so a write past the limit fails with EFBIG instead of killing it.
    const server = await startServerProcess({ as, databasePath, wrapper: ['bash', '-c', `ulimit -f ${limitKiB} && exec "$0" "$@"`] });
    const type = await api(server.url, 'POST', '/api/task-types', { name: 'last_words' });
    expect(type.status).toBe(201);
    const acknowledged: number[] = [];
    for (let n = 0; n < 3; n++) {
      const res = await api(server.url, 'POST', '/api/tasks', { task_type_id: type.body.id, parameters: { n, filler: 'y'.repeat(10_000) } });
      expect(res.status, res.text).toBe(201);
      acknowledged.push(res.body.id);
    }

    expect(await server.stop('SIGTERM'), server.output().stderr).toBe(0);
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
