/**
 * Two server processes on one SQLite file, as when a deployment runs two replicas on a shared
 * volume or a restart overlaps the old process. SQLite serialises their writes; the queue must
 * still hand out each task exactly once, never surface a lock timeout as an error, and wake a
 * claim waiting on one server for a task created through the other.
 */
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { api, killAllServerProcesses, removeTempDirs, startServerProcess, tempDir, waitFor, type ServerProcess } from './process-testing.js';

afterEach(async () => {
  await killAllServerProcesses();
  removeTempDirs();
});

/** Two servers on one fresh database, the second started once the first has migrated it. */
async function startTwo() {
  const databasePath = join(tempDir('prismq-two-'), 'api.db');
  const a = await startServerProcess({ databasePath });
  const b = await startServerProcess({ databasePath });
  return { databasePath, a, b };
}

async function createType(server: ServerProcess, name: string): Promise<number> {
  const response = await api(server.url, 'POST', '/api/task-types', { name });
  expect(response.status, response.text).toBe(201);
  return response.body.id;
}

interface TaskRow {
  id: number;
  status: string;
  attempts: number;
}

describe('two server processes on one SQLite file', () => {
  it('hand out every task exactly once between them, with no errors', { timeout: 120_000 }, async () => {
    const { databasePath, a, b } = await startTwo();
    const servers = [a, b];
    const typeId = await createType(a, 'shared');
    const errors: string[] = [];
    const check = (what: string, response: { status: number; text: string }, expected: number) => {
      if (response.status !== expected) errors.push(`${what} -> ${response.status} ${response.text}`);
      return response.status === expected;
    };
    /** Like `api`, but a request that gets no answer (a server died) is an error that ends the client. */
    const call = async (what: string, server: ServerProcess, method: string, path: string, body?: unknown) => {
      try {
        return await api(server.url, method, path, body);
      } catch (error) {
        const exit = server.child.exitCode ?? server.child.signalCode;
        errors.push(`${what}: no answer (${(error as Error).message}: ${String((error as Error).cause)}); server exit ${exit}`);
        throw error;
      }
    };
    /** What each server said about errors, for the failure message. */
    const diagnose = () =>
      servers
        .map((server, n) => {
          const { stdout, stderr } = server.output();
          const logged = stdout.split('\n').filter((line) => /"level":(50|60)/.test(line)); // error, fatal
          return `server ${n} (exit ${server.child.exitCode ?? server.child.signalCode}): ${stderr.slice(-2000)}\n${logged.slice(-5).join('\n')}`;
        })
        .join('\n');
    const deadline = Date.now() + 60_000;

    // 1500 tasks in two batches, one through each server at the same time.
    const batch = (n: number) => ({ tasks: Array.from({ length: 750 }, (_, i) => ({ task_type_id: typeId, parameters: { batch: n, i } })) });
    const batches = await Promise.all(servers.map((server, n) => api(server.url, 'POST', '/api/tasks/batch', batch(n), 30_000)));
    const createdIds: number[] = [];
    for (const response of batches) {
      expect(response.status, response.text).toBe(201);
      expect(response.body).toHaveLength(750);
      createdIds.push(...(response.body as { id: number }[]).map((task) => task.id));
    }

    // 200 more created one by one, alternately through each server, while the claimers run.
    let producing = true;
    const producer = (async () => {
      try {
        for (let i = 0; i < 200; i++) {
          const body = { task_type_id: typeId, parameters: { single: i } };
          const response = await call(`create ${i}`, servers[i % 2]!, 'POST', '/api/tasks', body);
          if (check(`create ${i}`, response, 201)) createdIds.push(response.body.id);
        }
      } finally {
        producing = false;
      }
    })();

    const claims: { server: number; ids: number[] }[] = [];
    async function claimer(index: number) {
      const worker_id = `claimer-${index}`;
      for (let round = 0; ; round++) {
        if (Date.now() > deadline) {
          errors.push(`${worker_id}: still claiming after 60 s`);
          return;
        }
        const finalLook = !producing; // read before claiming: an empty answer after this means nothing is left
        const via = (index + round) % 2;
        const claim = await call(`claim via ${via}`, servers[via]!, 'POST', '/api/tasks/claim', {
          worker_id,
          task_type_ids: [typeId],
          limit: 5 + Math.floor(Math.random() * 6),
          lease_seconds: 60,
        });
        if (!check(`claim via ${via}`, claim, 200)) continue;
        const tasks = claim.body as { id: number; lease_id: string; status: string }[];
        if (tasks.length === 0) {
          if (finalLook) return;
          continue;
        }
        claims.push({ server: via, ids: tasks.map((task) => task.id) });
        // Completed through the other server: a lease taken on one holds on the other.
        for (const task of tasks) {
          const done = await call(`complete ${task.id}`, servers[1 - via]!, 'POST', `/api/tasks/${task.id}/complete`, {
            worker_id,
            lease_id: task.lease_id,
            result: { by: worker_id },
          });
          check(`complete ${task.id} via ${1 - via}`, done, 200);
        }
      }
    }
    const started = Date.now();
    await Promise.allSettled([producer, ...Array.from({ length: 6 }, (_, i) => claimer(i))]);
    const elapsed = Date.now() - started;

    expect(errors, diagnose()).toEqual([]);
    const claimedIds = claims.flatMap((claim) => claim.ids);
    const seen = new Set<number>();
    const twice = claimedIds.filter((id) => seen.has(id) || !seen.add(id));
    expect(twice, 'tasks handed out more than once').toEqual([]);
    expect(createdIds).toHaveLength(1700);
    expect([...seen].sort((x, y) => x - y)).toEqual([...createdIds].sort((x, y) => x - y));
    for (const server of [0, 1]) expect(claims.some((claim) => claim.server === server), `claims via server ${server}`).toBe(true);

    // Both stop cleanly, the first while the second still has the file open.
    expect(await a.stop('SIGTERM')).toBe(0);
    expect(await b.stop('SIGTERM')).toBe(0);
    const db = new Database(databasePath);
    try {
      expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
      const rows = db.prepare('SELECT id, status, attempts FROM task_list WHERE task_type_id = ?').all(typeId) as TaskRow[];
      expect(rows).toHaveLength(1700);
      expect(rows.filter((row) => row.status !== 'completed' || row.attempts !== 1)).toEqual([]);
    } finally {
      db.close();
    }
    console.info(
      `two servers: ${claimedIds.length} tasks claimed and completed in ${elapsed} ms through ${claims.length} claims ` +
        `(${claims.filter((claim) => claim.server === 0).length} via A, ${claims.filter((claim) => claim.server === 1).length} via B)`,
    );
  });

  it('a claim waiting on one server gets a task created through the other within about a second', { timeout: 60_000 }, async () => {
    const { a, b } = await startTwo();
    const typeId = await createType(b, 'cross_process');

    let answeredAt: number | undefined;
    const claimStarted = Date.now();
    const claim = api(a.url, 'POST', '/api/tasks/claim', { worker_id: 'waiter', task_type_ids: [typeId], wait_seconds: 5 }).then(
      (response) => {
        answeredAt = Date.now();
        return response;
      },
    );
    // Give the claim time to find nothing and start waiting. Correctness does not hinge on this
    // delay; it only makes the test exercise the wait (checked below: the claim was still open).
    await new Promise((resolve) => setTimeout(resolve, 500));
    const created = await api(b.url, 'POST', '/api/tasks', { task_type_id: typeId, parameters: { from: 'b' } });
    const createdAt = Date.now();
    expect(created.status, created.text).toBe(201);
    expect(answeredAt, 'the claim answered before the task existed').toBeUndefined();

    const response = await claim;
    expect(response.status, response.text).toBe(200);
    expect(response.body.map((task: { id: number }) => task.id)).toEqual([created.body.id]);
    expect(answeredAt! - createdAt).toBeLessThan(3000);
    expect(answeredAt! - claimStarted).toBeLessThan(5000);
  });

  it('can both start at once on a fresh database file', { timeout: 60_000 }, async () => {
    // Two replicas started together both migrate the empty file. drizzle's migrator reads which
    // migrations are applied before it takes the write lock, so both can read "none" and then
    // both apply them. The window is a few milliseconds (hit in ~1 of 5 tries when two processes
    // are lined up on a shared start time); here a barrier holds each server at that exact point,
    // just before the first CREATE TABLE of the first migration, until both have reached it.
    const dir = tempDir('prismq-two-start-');
    const databasePath = join(dir, 'api.db');
    const barrier = join(dir, 'go');
    const preload = `
      import { createRequire } from 'node:module';
      import { existsSync, writeFileSync } from 'node:fs';
      const Database = createRequire(process.cwd() + '/')('better-sqlite3');
      let held = false;
      const hold = (source) => {
        if (held || !String(source).startsWith('CREATE TABLE \`task_list\`')) return;
        held = true;
        writeFileSync(process.env.MIGRATION_BARRIER + '.' + process.pid, '');
        const nap = new Int32Array(new SharedArrayBuffer(4));
        while (!existsSync(process.env.MIGRATION_BARRIER)) Atomics.wait(nap, 0, 0, 5);
      };
      for (const method of ['prepare', 'exec']) {
        const original = Database.prototype[method];
        Database.prototype[method] = function (source, ...rest) {
          hold(source);
          return original.call(this, source, ...rest);
        };
      }`;
    const env = { MIGRATION_BARRIER: barrier, NODE_OPTIONS: `--import=data:text/javascript,${encodeURIComponent(preload)}` };
    let settled = false;
    const starting = Promise.allSettled([startServerProcess({ databasePath, env }), startServerProcess({ databasePath, env })]).finally(
      () => (settled = true),
    );

    // Both have read the list of applied migrations and are about to apply the first one. Once
    // migrations are serialised (the write lock taken before that read) only one server can get
    // here while the other waits for the lock (busy_timeout, 5 s): then the first goes on alone
    // after 2 s.
    const arrived = () => readdirSync(dir).filter((name) => name.startsWith('go.')).length;
    await waitFor('a server at the barrier', () => (arrived() > 0 || settled ? true : undefined), 30_000);
    await waitFor('both servers at the barrier', () => (arrived() === 2 ? true : undefined), 2000).catch(() => undefined);
    writeFileSync(barrier, '');

    const started = await starting;
    const failures = started.flatMap((result) => (result.status === 'rejected' ? [String(result.reason).split('\n')[0]] : []));
    expect(failures).toEqual([]);
  });
});
