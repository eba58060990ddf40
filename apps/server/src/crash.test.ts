/**
 * Crash safety: a server process is SIGKILLed again and again while clients create, claim and
 * complete tasks as fast as they can, and is restarted on the same SQLite file each time.
 * Afterwards every operation the API acknowledged (a 2xx) must be in the database: acknowledged
 * means durable. The converse need not hold: a kill mid-response can lose the answer to a write
 * that did commit.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { api, killAllServerProcesses, removeTempDirs, startServerProcess, tempDir, type ServerProcess } from './process-testing.js';

afterEach(async () => {
  await killAllServerProcesses();
  removeTempDirs();
});

interface Created {
  id: number;
  parameters: Record<string, unknown>;
}
interface Claimed {
  id: number;
  lease_id: string;
  worker_id: string;
  attempts: number;
  generation: number;
}
interface Completed {
  id: number;
  result: unknown;
}
interface Row {
  id: number;
  status: string;
  parameters: string;
  result: string | null;
  attempts: number;
  worker_id: string | null;
  lease_id: string | null;
  lease_expires_at: string | null;
}

const KILLS = 5;
const PRODUCERS = 3;
const WORKERS = 3;
const REQUEST_TIMEOUT_MS = 5_000;

/** Which server process is up, if any; each restart is a new generation. */
class Supervisor {
  server: ServerProcess | undefined;
  generation = 0;
  stopping = false;
  readonly killed = new Set<number>();
  private waiters: (() => void)[] = [];

  up(server: ServerProcess) {
    this.server = server;
    this.generation++;
    for (const wake of this.waiters.splice(0)) wake();
  }

  async kill() {
    const server = this.server!;
    this.server = undefined;
    this.killed.add(this.generation);
    const code = await server.stop('SIGKILL');
    expect(code).toBeNull(); // killed by the signal, not exited on its own
  }

  stop() {
    this.stopping = true;
    for (const wake of this.waiters.splice(0)) wake();
  }

  /** The live server of a generation after `after`, waiting for a restart if needed; undefined once stopping. */
  async next(after = 0): Promise<{ url: string; generation: number } | undefined> {
    while (!this.stopping && !(this.server && this.generation > after)) await new Promise<void>((wake) => this.waiters.push(wake));
    return this.stopping ? undefined : { url: this.server!.url, generation: this.generation };
  }
}

describe('a server process killed with SIGKILL while it is busy', () => {
  it('keeps every acknowledged create, claim and complete, and leaves an intact database', { timeout: 90_000 }, async () => {
    const databasePath = join(tempDir('prismq-crash-'), 'api.db');
    const supervisor = new Supervisor();
    supervisor.up(await startServerProcess({ databasePath }));

    const type = await api(supervisor.server!.url, 'POST', '/api/task-types', { name: 'crash_safety' });
    expect(type.status).toBe(201);
    const typeId: number = type.body.id;

    const created: Created[] = [];
    const claimed: Claimed[] = [];
    const completed: Completed[] = [];
    /** Answers that no correct server gives here (any non-2xx), and connection errors from a server we did not kill. */
    const unexpected: string[] = [];
    let interrupted = 0; // requests that got no answer because their server was killed
    const acksByGeneration = new Map<number, number>();
    const ack = (generation: number) => acksByGeneration.set(generation, (acksByGeneration.get(generation) ?? 0) + 1);

    /**
     * Sends one request to the current server. Answers undefined when no answer came (the server
     * died, or is being restarted): such a request is simply not acknowledged.
     */
    async function send(method: string, path: string, body: unknown) {
      const target = await supervisor.next();
      if (!target) return undefined;
      try {
        const response = await api(target.url, method, path, body, REQUEST_TIMEOUT_MS);
        if (response.status >= 300) unexpected.push(`${method} ${path} -> ${response.status} ${response.text}`);
        return { ...response, generation: target.generation };
      } catch (error) {
        if (supervisor.killed.has(target.generation)) interrupted++;
        else unexpected.push(`${method} ${path} on live generation ${target.generation}: ${(error as Error).message}`);
        // Wait for the next server; the current one is gone.
        await supervisor.next(target.generation);
        return undefined;
      }
    }

    async function producer(index: number) {
      for (let seq = 0; !supervisor.stopping; seq++) {
        // Sizes up to a few pages, so that commits span several WAL frames and overflow pages.
        const parameters = { producer: index, seq, payload: randomBytes(Math.floor(Math.random() * 3000)).toString('base64') };
        const priority = 1 + Math.floor(Math.random() * 1000);
        const response = await send('POST', '/api/tasks', { task_type_id: typeId, parameters, priority });
        if (response?.status !== 201) continue;
        expect(response.body.parameters).toEqual(parameters);
        created.push({ id: response.body.id, parameters });
        ack(response.generation);
      }
    }

    async function worker(index: number) {
      const worker_id = `worker-${index}`;
      while (!supervisor.stopping) {
        const limit = 1 + Math.floor(Math.random() * 3);
        const claim = await send('POST', '/api/tasks/claim', {
          worker_id,
          task_type_ids: [typeId],
          limit,
          lease_seconds: 600,
          wait_seconds: 1,
        });
        if (claim?.status !== 200) continue;
        for (const task of claim.body as { id: number; lease_id: string; attempts: number; status: string }[]) {
          expect(task.status).toBe('running');
          claimed.push({ id: task.id, lease_id: task.lease_id, worker_id, attempts: task.attempts, generation: claim.generation });
          ack(claim.generation);
        }
        for (const task of claim.body as { id: number; lease_id: string }[]) {
          const result = { by: worker_id, id: task.id, token: randomBytes(8).toString('hex') };
          const done = await send('POST', `/api/tasks/${task.id}/complete`, { worker_id, lease_id: task.lease_id, result });
          if (done?.status !== 200) continue; // no answer: the task may or may not be completed
          expect(done.body.status).toBe('completed');
          completed.push({ id: task.id, result });
          ack(done.generation);
        }
      }
    }

    const clients = Promise.all([
      ...Array.from({ length: PRODUCERS }, (_, i) => producer(i)),
      ...Array.from({ length: WORKERS }, (_, i) => worker(i)),
    ]);

    const started = Date.now();
    for (let kill = 0; kill < KILLS; kill++) {
      await new Promise((resolve) => setTimeout(resolve, 200 + Math.random() * 600));
      await supervisor.kill();
      supervisor.up(await startServerProcess({ databasePath }));
    }
    // Some work for the last generation too, then a final crash.
    const settle = Date.now() + 600;
    while (Date.now() < settle) await new Promise((resolve) => setTimeout(resolve, 50));
    await supervisor.kill();
    supervisor.stop();
    await clients;
    const elapsed = Date.now() - started;

    // The test really did exercise something in most server lifetimes.
    expect(created.length).toBeGreaterThan(50);
    expect(claimed.length).toBeGreaterThan(20);
    expect(completed.length).toBeGreaterThan(20);
    expect(acksByGeneration.size).toBeGreaterThanOrEqual(KILLS - 1);
    expect(interrupted, 'kills that cut requests off').toBeGreaterThan(0);
    expect(unexpected).toEqual([]);

    // Open the file with no server running (WAL recovery included), without migrating it.
    const db = new Database(databasePath);
    try {
      expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
      expect(db.pragma('foreign_key_check')).toEqual([]);
      const rows = new Map(
        (db.prepare('SELECT id, status, parameters, result, attempts, worker_id, lease_id, lease_expires_at FROM task_list').all() as Row[]).map(
          (row) => [row.id, row],
        ),
      );

      // Each acknowledged create is there with its parameters, under an id given once.
      expect(new Set(created.map((c) => c.id)).size).toBe(created.length);
      const missing = created.filter((c) => !rows.has(c.id)).map((c) => c.id);
      expect(missing, 'acknowledged creates missing from the database').toEqual([]);
      for (const c of created) expect(JSON.parse(rows.get(c.id)!.parameters), `parameters of task ${c.id}`).toEqual(c.parameters);

      // Each acknowledged claim holds, or a later step of the same task does; no task was leased twice.
      expect(new Set(claimed.map((c) => c.id)).size, 'a task was claimed twice').toBe(claimed.length);
      for (const c of claimed) {
        const row = rows.get(c.id);
        expect(row, `claimed task ${c.id}`).toBeDefined();
        expect(['running', 'completed'], `status of claimed task ${c.id}`).toContain(row!.status);
        expect(row!.attempts, `attempts of claimed task ${c.id}`).toBeGreaterThanOrEqual(c.attempts);
        if (row!.attempts === c.attempts) {
          expect({ lease_id: row!.lease_id, worker_id: row!.worker_id }, `lease of claimed task ${c.id}`).toEqual({
            lease_id: c.lease_id,
            worker_id: c.worker_id,
          });
        }
      }

      // Each acknowledged complete is completed with its result.
      for (const c of completed) {
        const row = rows.get(c.id)!;
        expect({ status: row.status, result: row.result === null ? null : JSON.parse(row.result) }, `completed task ${c.id}`).toEqual({
          status: 'completed',
          result: c.result,
        });
      }

      // Tasks made running by claims always carry their lease.
      const leaseless = [...rows.values()].filter((row) => row.status === 'running' && (row.lease_expires_at === null || row.lease_id === null));
      expect(leaseless).toEqual([]);
    } finally {
      db.close();
    }

    console.info(
      `crash test: ${KILLS + 1} SIGKILLs in ${elapsed} ms; acknowledged ${created.length} creates, ${claimed.length} claims, ` +
        `${completed.length} completes; ${interrupted} requests cut off; acks per server lifetime ${JSON.stringify([...acksByGeneration.values()])}`,
    );
  });
});
