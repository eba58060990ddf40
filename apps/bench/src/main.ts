/**
 * `pnpm bench`: PrismQ over HTTP, on SQLite and (where `@prismq/db` has the engine) on
 * PostgreSQL, beside its own data-access layer and the anchors, all measured in one run on this
 * machine with the same workload sizes: BullMQ on the Redis at REDIS_URL (here without
 * persistence) and on a Redis the benchmark starts with `--appendonly yes --appendfsync always`
 * (skipped if `redis-server` is not installed), pg-boss and Graphile Worker on PostgreSQL, each
 * set up as its documentation recommends for speed.
 *
 * Every system runs the same scenarios in the same order (./scenarios.ts): creates one per call
 * by 1 and 32 concurrent callers, batches of 100, the lifecycle (create ∥ claim → complete) at
 * worker concurrency 1, 10 and 50, a drain of pending tasks, create → handler latency on an idle
 * worker, and storage per pending task; this process's garbage is collected before each. Beside
 * each throughput of the creates, the lifecycle and the drain, the CPU per task of the system's
 * server side and of this process (./cpu.ts). PrismQ alone also has reads on growing databases,
 * its tRPC path and its idle-long-poll row. Prints a Markdown table with ratios and issue 11's
 * performance targets met or missed, and writes everything as JSON.
 *
 *   pnpm bench                 the whole suite (under 12 minutes on this 2-core machine)
 *   pnpm bench --quick         a smoke run of every scenario in a minute or two
 *   pnpm bench --only prismq,bullmq,bullmq-fsync --json results.json
 *
 * REDIS_URL (default redis://127.0.0.1:6379) and POSTGRES_URL (default
 * postgres://postgres@127.0.0.1:5432/test) say where the anchors' servers are (PrismQ on
 * PostgreSQL gets a fresh database beside POSTGRES_URL's); an unreachable one is skipped with a
 * message. The server-side CPU of PostgreSQL is read from /proc, so only for a local server.
 */
import { writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import { benchBullmqAsGiven, benchBullmqFsync } from './anchors/bullmq.js';
import { benchGraphileWorker } from './anchors/graphile-worker.js';
import { benchPgBoss } from './anchors/pg-boss.js';
import { benchDal } from './dal.js';
import type { BenchPlan, SystemResult } from './figures.js';
import { benchPrismq } from './prismq.js';
import { benchReads } from './reads.js';
import { table, targetLines, targets } from './report.js';

const SYSTEMS = ['prismq', 'prismq-pg', 'dal', 'bullmq', 'bullmq-fsync', 'pg-boss', 'graphile-worker'] as const;
type SystemName = (typeof SYSTEMS)[number];

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    json: { type: 'string', default: 'bench-results.json' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (args.help) {
  process.stdout.write(`usage: pnpm bench [--quick] [--only ${SYSTEMS.join(',')}] [--json FILE]\n`);
  process.exit(0);
}
const only = new Set<string>(args.only ? args.only.split(',').map((name) => name.trim()) : SYSTEMS);
const unknown = [...only].filter((name) => !(SYSTEMS as readonly string[]).includes(name));
if (unknown.length) {
  process.stderr.write(`bench: unknown system(s) ${unknown.join(', ')}; choose from ${SYSTEMS.join(', ')}\n`);
  process.exit(2);
}
const env = {
  redisUrl: process.env.REDIS_URL || 'redis://127.0.0.1:6379',
  postgresUrl: process.env.POSTGRES_URL || 'postgres://postgres@127.0.0.1:5432/test',
  // pnpm runs the script in the package folder and says where the command was typed in INIT_CWD.
  cwd: process.env.INIT_CWD || process.cwd(),
};

const plan: BenchPlan = args.quick
  ? { quick: true, durationSeconds: 0.5, warmupSeconds: 0.2, lifecycleTasks: 200, lifecycle1Tasks: 50, latencyTasks: 20, storageTasks: 500, readSizes: [1_000, 5_000] }
  : {
      quick: false,
      durationSeconds: 5,
      warmupSeconds: 1,
      lifecycleTasks: 5_000,
      lifecycle1Tasks: 1_000,
      latencyTasks: 500,
      storageTasks: 10_000,
      readSizes: [10_000, 100_000, 1_000_000],
    };

const log = (line: string) => process.stderr.write(`[${((performance.now() - began) / 1000).toFixed(0).padStart(4)} s] ${line}\n`);
const began = performance.now();
const skipped = (name: string, reason: string): SystemResult => ({ name, detail: '', figures: {}, skipped: reason });
const want = (name: SystemName) => only.has(name);

const [prismq, prismqPg] = await benchPrismq(plan, log, { sqlite: want('prismq'), postgresUrl: want('prismq-pg') ? env.postgresUrl : undefined });
const dal = want('dal') ? await benchDal(plan, log) : skipped('PrismQ DAL', 'not selected (--only)');
if (want('prismq') || want('dal')) await benchReads(plan, prismq.figures, dal.figures, log);
const bullmq = want('bullmq') ? await benchBullmqAsGiven(plan, env.redisUrl, log) : skipped('BullMQ (Redis, no persistence)', 'not selected (--only)');
const bullmqFsync = want('bullmq-fsync') ? await benchBullmqFsync(plan, log) : skipped('BullMQ (Redis, appendfsync always)', 'not selected (--only)');
const pgBoss = want('pg-boss') ? await benchPgBoss(plan, env.postgresUrl, log) : skipped('pg-boss', 'not selected (--only)');
const graphile = want('graphile-worker') ? await benchGraphileWorker(plan, env.postgresUrl, log) : skipped('Graphile Worker', 'not selected (--only)');

const memory = new Database(':memory:');
const sqliteVersion = (memory.prepare('select sqlite_version() as v').get() as { v: string }).v;
memory.close();
const machine = {
  cpu: `${cpus().length} × ${cpus()[0]?.model ?? 'unknown CPU'}`,
  memoryGiB: Math.round(totalmem() / 2 ** 30),
  node: process.version,
  sqlite: sqliteVersion,
  platform: `${process.platform} ${process.arch}`,
};
const systems = [prismq, prismqPg, dal, bullmq, bullmqFsync, pgBoss, graphile];
const ratios: [SystemResult, SystemResult][] = [
  [prismq, dal],
  [prismq, bullmq],
  [prismq, bullmqFsync],
  [prismq, pgBoss],
  [prismq, graphile],
  [prismqPg, pgBoss],
  [prismqPg, graphile],
];
const checks = targets(plan, { prismq, prismqPg, bullmq, bullmqFsync, graphile });
const seconds = (performance.now() - began) / 1000;

const out = [
  `PrismQ benchmark${plan.quick ? ' (--quick: smoke run, figures not meaningful)' : ''}: ${new Date().toISOString()}, ${seconds.toFixed(0)} s`,
  `machine: ${machine.cpu}, ${machine.memoryGiB} GiB, ${machine.platform}, Node.js ${machine.node}, SQLite ${machine.sqlite}`,
  ...systems.map((system) => `- ${system.name}: ${system.skipped ? `skipped: ${system.skipped}` : system.detail}`),
  ...systems.flatMap((system) => (system.notes ?? []).map((note: string) => `  - ${system.name}: ${note}`)),
  '',
  table(plan, systems, ratios),
  '',
  'targets:',
  targetLines(checks),
  '',
].join('\n');
process.stdout.write(out);

const jsonPath = resolve(env.cwd, args.json);
writeFileSync(jsonPath, JSON.stringify({ date: new Date().toISOString(), seconds, plan, machine, systems, targets: checks }, null, 2));
log(`wrote ${jsonPath}`);
