/**
 * Scenario 3: get by id and list with filters on databases of growing size, over HTTP and on the
 * data-access layer, each size seeded once (see ./seed.ts) and read by both; this process's
 * garbage collected before each, as before every scenario.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteTaskStore, type TaskFilter } from '@prismq/db';
import { collectGarbage } from './cpu.js';
import { throughput, type BenchPlan, type Figures, type Log } from './figures.js';
import { load, withServer } from './prismq.js';
import { seedTo } from './seed.js';

/** The filters a dashboard or an operator lists by, used in turn. */
const FILTERS: TaskFilter[] = [
  { status: 'pending', limit: 50 },
  { status: 'completed', limit: 50 },
  { task_type_id: 2, limit: 50 },
  { task_type_id: 3, status: 'failed', limit: 50 },
  { task_type_id: 1, status: 'completed', limit: 50 },
];

const query = ({ limit, ...filter }: TaskFilter) =>
  new URLSearchParams({ ...Object.fromEntries(Object.entries(filter).map(([key, value]) => [key, String(value)])), limit: String(limit) }).toString();

export async function benchReads(plan: BenchPlan, http: Partial<Figures>, dal: Partial<Figures>, log: Log): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'prismq-bench-reads-'));
  const path = join(dir, 'reads.db');
  try {
    for (const size of plan.readSizes) {
      log(`reads: seeding to ${size} tasks`);
      await seedTo(path, size);
      const randomId = () => 1 + Math.floor(Math.random() * size);

      collectGarbage();
      log(`reads: data-access layer at ${size} tasks`);
      const store = new SqliteTaskStore(path);
      try {
        dal[`get_${size}`] = await throughput(plan, 1, async () => (await store.getTask(randomId()), 1));
        let turn = 0;
        dal[`list_${size}`] = await throughput(plan, 1, async () => (await store.listTasks(FILTERS[turn++ % FILTERS.length]!), 1));
      } finally {
        await store.close();
      }

      collectGarbage();
      log(`reads: HTTP at ${size} tasks`);
      await withServer(path, async (server) => {
        http[`get_${size}`] = (await load(plan, server.url, { connections: 8, path: '/api/tasks/1', nextPath: () => `/api/tasks/${randomId()}` }))
          .perSecond;
        let turn = 0;
        const listPath = () => `/api/tasks?${query(FILTERS[turn++ % FILTERS.length]!)}`;
        const listed = await load(plan, server.url, { connections: 8, path: listPath(), nextPath: listPath });
        http[`list_${size}`] = listed.perSecond;
        http[`list_mean_ms_${size}`] = listed.mean;
        http[`list_p99_ms_${size}`] = listed.p99;
      });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
