import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { api, killAllServerProcesses, removeTempDirs, startServerProcess, tempDir, waitFor } from './process-testing.js';

afterEach(async () => {
  await killAllServerProcesses();
  removeTempDirs();
});

/** Sends creates from `loops` concurrent loops until the server stops answering; returns the acknowledged ones. */
async function createUntilRefused(url: string, typeId: number, loops: number) {
  const acknowledged: { id: number; n: number }[] = [];
  let n = 0;
  await Promise.all(
    Array.from({ length: loops }, async () => {
      for (;;) {
        const mine = n++;
        try {
          const res = await api(url, 'POST', '/api/tasks', { task_type_id: typeId, parameters: { n: mine } });
          if (res.status === 201) acknowledged.push({ id: res.body.id, n: mine });
          else if (res.status !== 503) throw new Error(`unexpected ${res.status}: ${res.text}`);
        } catch (error) {
          if ((error as Error).message.startsWith('unexpected')) throw error;
          return; // connection refused or reset: the server is gone
        }
      }
    }),
  );
  return acknowledged;
}

describe('shutdown', () => {
  it('on SIGTERM under load: answers waiting claims, drops no acknowledged write, and exits 0', async () => {
    const databasePath = join(tempDir(), 'api.db');
    const server = await startServerProcess({ databasePath });
    const type = (await api(server.url, 'POST', '/api/task-types', { name: 'under_load' })).body;
    const other = (await api(server.url, 'POST', '/api/task-types', { name: 'never_created' })).body;

    const waitingClaim = api(server.url, 'POST', '/api/tasks/claim', { worker_id: 'w', task_type_ids: [other.id], wait_seconds: 25 }, 30_000);
    const load = createUntilRefused(server.url, type.id, 8);
    // Let the load build up, then ask the server to stop.
    await waitFor('some creates', async () => ((await api(server.url, 'GET', `/api/tasks?task_type_id=${type.id}&limit=50`)).body.length >= 50 ? true : undefined));
    const stopping = server.stop('SIGTERM');

    const claim = await waitingClaim;
    expect(claim.status).toBe(200);
    expect(claim.body).toEqual([]);
    expect(await stopping).toBe(0);
    const acknowledged = await load;
    expect(acknowledged.length).toBeGreaterThan(0);
    expect(server.output().stdout).toMatch(/"msg":"stopped"/);

    const db = new Database(databasePath, { readonly: true });
    try {
      const rows = db.prepare('select id, parameters from task_list where task_type_id = ?').all(type.id) as { id: number; parameters: string }[];
      const stored = new Map(rows.map((r) => [r.id, JSON.parse(r.parameters).n]));
      for (const { id, n } of acknowledged) expect(stored.get(id), `task ${id}`).toBe(n);
      expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
    } finally {
      db.close();
    }
  }, 60_000);
});

describe('pnpm db:backup', () => {
  it('copies the live database consistently while the server keeps serving', async () => {
    const dir = tempDir();
    const databasePath = join(dir, 'api.db');
    const server = await startServerProcess({ databasePath });
    const type = (await api(server.url, 'POST', '/api/task-types', { name: 'backed_up' })).body;
    for (let i = 0; i < 20; i++) await api(server.url, 'POST', '/api/tasks', { task_type_id: type.id });

    let writing = true;
    const writer = (async () => {
      let written = 0;
      while (writing) {
        expect((await api(server.url, 'POST', '/api/tasks', { task_type_id: type.id })).status).toBe(201);
        written++;
      }
      return written;
    })();
    const backupPath = join(dir, 'backup.db');
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'src/cli/backup.ts', backupPath], {
      cwd: join(import.meta.dirname, '..'),
      env: { PATH: process.env.PATH, DATABASE_URL: databasePath },
    });
    writing = false;
    expect(await writer).toBeGreaterThan(0);
    expect(stdout).toMatch(/integrity ok/);
    expect((await api(server.url, 'GET', '/healthz')).status).toBe(200);

    const copy = new Database(backupPath, { readonly: true });
    try {
      expect(copy.pragma('integrity_check', { simple: true })).toBe('ok');
      expect(copy.pragma('journal_mode', { simple: true })).toBe('delete');
      expect(copy.prepare('select count(*) from task_list').pluck().get()).toBeGreaterThanOrEqual(20);
    } finally {
      copy.close();
    }
  }, 60_000);
});
