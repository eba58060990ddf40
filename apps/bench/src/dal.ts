/**
 * The limit of PrismQ's own storage: the same scenarios on the data-access layer (`@prismq/db`'s
 * SQLite store) called directly in this process, with no HTTP, no routing and no serialisation.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteTaskStore } from '@prismq/db';
import { collectGarbage } from './cpu.js';
import { LIFECYCLE_CONCURRENCIES, lifecycleTasks, throughput, type BenchPlan, type Figures, type Log, type SystemResult } from './figures.js';

const fileBytes = (path: string) => statSync(path).size;

/** Scenarios 1 and 2 and the lifecycle, on a fresh database. */
async function writes(plan: BenchPlan, store: SqliteTaskStore, figures: Partial<Figures>, log: Log) {
  const type = await store.createTaskType({
    name: 'bench_create',
    parameters_schema: { type: 'object', properties: { n: { type: 'integer' } }, required: ['n'] },
  });
  for (const loops of [1, 32] as const) {
    collectGarbage(); // as before every system's scenarios (../scenarios.ts)
    log(`dal: create, ${loops} caller(s)`);
    figures[`create_${loops}`] = await throughput(plan, loops, async () => {
      await store.createTask({ task_type_id: type.id, parameters: { n: 1 } });
      return 1;
    });
  }
  collectGarbage();
  log('dal: batch create, 100 per call');
  const batch = Array.from({ length: 100 }, (_, n) => ({ task_type_id: type.id, parameters: { n } }));
  figures.batch_100 = await throughput(plan, 4, async () => (await store.createTasks(batch)).length);

  for (const concurrency of LIFECYCLE_CONCURRENCIES) {
    const tasks = lifecycleTasks(plan, concurrency);
    collectGarbage();
    log(`dal: lifecycle of ${tasks} tasks, ${concurrency} at once`);
    const { id } = await store.createTaskType({ name: `bench_lifecycle_${concurrency}` });
    const started = performance.now();
    let made = 0;
    let done = 0;
    const produce = async () => {
      for (; made < tasks; made += 100) {
        await store.createTasks(Array.from({ length: Math.min(100, tasks - made) }, (_, n) => ({ task_type_id: id, parameters: { n } })));
        await new Promise((resolve) => setImmediate(resolve));
      }
    };
    // Like the worker runtime: claim as many as there are free slots, run them at once and
    // complete them together (their completes share a commit, as the worker's batched ones do).
    const work = async () => {
      while (done < tasks) {
        const claimed = await store.claimTasks({ worker_id: 'dal', task_type_ids: [id], limit: concurrency, lease_seconds: 60 });
        if (claimed.length === 0) await new Promise((resolve) => setImmediate(resolve));
        await Promise.all(claimed.map((task) => store.completeTask(task.id, { worker_id: 'dal', lease_id: task.lease_id! }, { ok: true })));
        done += claimed.length;
      }
    };
    await Promise.all([produce(), work()]);
    figures[`lifecycle_${concurrency}`] = tasks / ((performance.now() - started) / 1000);
  }
}

/** Scenario 6's storage part: file bytes per pending task, WAL checkpointed. */
async function storage(plan: BenchPlan, path: string, figures: Partial<Figures>, log: Log) {
  collectGarbage();
  log(`dal: storage of ${plan.storageTasks} tasks`);
  let store = new SqliteTaskStore(path);
  const { id } = await store.createTaskType({ name: 'bench_storage' });
  await store.close();
  const before = fileBytes(path);
  store = new SqliteTaskStore(path);
  for (let made = 0; made < plan.storageTasks; made += 1000) {
    await store.createTasks(Array.from({ length: Math.min(1000, plan.storageTasks - made) }, (_, i) => ({ task_type_id: id, parameters: { n: made + i } })));
  }
  await store.close();
  figures.bytes_per_task = (fileBytes(path) - before) / plan.storageTasks;
}

export async function benchDal(plan: BenchPlan, log: Log): Promise<SystemResult> {
  const dir = mkdtempSync(join(tmpdir(), 'prismq-bench-dal-'));
  const figures: Partial<Figures> = {};
  try {
    const store = new SqliteTaskStore(join(dir, 'queue.db'));
    try {
      await writes(plan, store, figures, log);
    } finally {
      await store.close();
    }
    await storage(plan, join(dir, 'storage.db'), figures, log);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return { name: 'PrismQ DAL', detail: '@prismq/db SqliteTaskStore called in-process, no HTTP', figures };
}
