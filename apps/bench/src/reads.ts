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
import { percentile, throughput, type BenchPlan, type Figures, type Log } from './figures.js';
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

/**
 * The operator's searches (`q`) and lists, one request at a time: searches for a word of one task
 * (and its copies), a word of every task, a word of the failed tasks' errors and two words
 * together; pages of each filter and sort of the list (several statuses, a type by name, ranges,
 * a worker, a metadata field, the other sorts) and the page after the first.
 */
const SEARCHES = (size: number) => [`q=${Math.floor(size / 3)}`, 'q=example', 'q=seeded', 'q=items+failure'];
const OPERATOR_LISTS = [
  'status=pending&status=failed&limit=50',
  'task_type=seed_resize&limit=50',
  'priority_min=10&priority_max=20&limit=50',
  'sort=priority&status=pending&limit=50',
  'sort=run_at&limit=50',
  'sort=oldest&status=completed&limit=50',
  'created_after=2000-01-01T00:00:00Z&task_type=seed_email&limit=50',
  'worker_id=seed&status=failed&limit=50',
  'metadata_key=tenant&metadata_value=acme&limit=50',
];

/** p95 of `paths` fetched one at a time, in turn, for the plan's duration (after its warm-up), ms. */
async function sequentialP95(plan: BenchPlan, url: string, paths: string[]): Promise<number> {
  const samples: number[] = [];
  const run = async (seconds: number, keep: boolean) => {
    const until = performance.now() + seconds * 1000;
    for (let turn = 0; performance.now() < until || (keep && samples.length < paths.length); turn++) {
      const started = performance.now();
      const response = await fetch(url + paths[turn % paths.length]!);
      if (!response.ok) throw new Error(`GET ${paths[turn % paths.length]}: ${response.status} ${await response.text()}`);
      await response.arrayBuffer();
      if (keep) samples.push(performance.now() - started);
    }
  };
  if (plan.warmupSeconds > 0) await run(plan.warmupSeconds, false);
  await run(plan.durationSeconds, true);
  return percentile(samples, 95);
}

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
        collectGarbage();
        log(`reads: search and the operator's lists at ${size} tasks`);
        http[`search_p95_ms_${size}`] = await sequentialP95(plan, server.url, SEARCHES(size).map((q) => `/api/tasks?${q}&limit=50`));
        const cursor = (await (await fetch(`${server.url}/api/tasks?limit=50`)).headers.get('x-next-cursor')) ?? '';
        http[`filters_p95_ms_${size}`] = await sequentialP95(plan, server.url, [
          ...OPERATOR_LISTS.map((list) => `/api/tasks?${list}`),
          `/api/tasks?limit=50&cursor=${encodeURIComponent(cursor)}`,
        ]);
      });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
