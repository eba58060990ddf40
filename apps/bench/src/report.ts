/**
 * Turns the systems' figures into the printed table (Markdown, so it can go into the README as
 * is), the list of targets met or missed, and the JSON record.
 */
import { DRAIN_CONCURRENCY, IDLE_POLLS, type BenchPlan, type CpuScenario, type Figures, type SystemResult } from './figures.js';

interface Row {
  key: keyof Figures;
  label: string;
  /** Whether more is better (throughputs) or less (latency, memory, bytes). */
  better: 'higher' | 'lower';
  digits?: number;
}

/** The two CPU rows of a scenario, under its throughput row. */
function cpuRows(scenario: CpuScenario, what: string): Row[] {
  return [
    { key: `cpu_server_ms_${scenario}`, label: `${what}: server-side CPU per task (ms)`, better: 'lower', digits: 3 },
    { key: `cpu_client_ms_${scenario}`, label: `${what}: benchmark-process CPU per task (ms)`, better: 'lower', digits: 3 },
  ];
}

export function rows(plan: BenchPlan): Row[] {
  const perSize = plan.readSizes.flatMap((size): Row[] => [
    { key: `get_${size}`, label: `get by id, ${size.toLocaleString('en')} tasks (req/s, 8 conns)`, better: 'higher' },
    { key: `list_${size}`, label: `list with filters, ${size.toLocaleString('en')} tasks (req/s, 8 conns)`, better: 'higher' },
    { key: `list_mean_ms_${size}`, label: `list mean latency, ${size.toLocaleString('en')} tasks (ms)`, better: 'lower', digits: 2 },
    { key: `search_p95_ms_${size}`, label: `search (q) p95, ${size.toLocaleString('en')} tasks (ms, 1 at a time)`, better: 'lower', digits: 2 },
    { key: `filters_p95_ms_${size}`, label: `operator's filters and sorts p95, ${size.toLocaleString('en')} tasks (ms, 1 at a time)`, better: 'lower', digits: 2 },
  ]);
  const tasks = (n: number) => n.toLocaleString('en');
  return [
    { key: 'create_1', label: 'create, 1 per call, 1 in flight (tasks/s; PrismQ: REST, raw HTTP by autocannon)', better: 'higher' },
    { key: 'create_32', label: 'create, 1 per call, 32 in flight (tasks/s; PrismQ: REST, raw HTTP by autocannon)', better: 'higher' },
    ...cpuRows('create_32', 'create, 32 in flight'),
    { key: 'create_client_1', label: 'create through @prismq/client, 1 in flight (tasks/s)', better: 'higher' },
    { key: 'create_client_32', label: 'create through @prismq/client, 32 in flight (tasks/s)', better: 'higher' },
    ...cpuRows('create_client_32', 'create through @prismq/client, 32 in flight'),
    { key: 'create_trpc_1', label: 'create over tRPC, raw HTTP by autocannon, 1 conn (tasks/s)', better: 'higher' },
    { key: 'create_trpc_32', label: 'create over tRPC, raw HTTP by autocannon, 32 conns (tasks/s)', better: 'higher' },
    { key: 'create_1_idle_polls', label: `create over REST, 1 conn, beside ${IDLE_POLLS} idle long polls (tasks/s)`, better: 'higher' },
    { key: 'batch_100', label: 'batch create, 100 per call, 4 in flight (tasks/s)', better: 'higher' },
    ...perSize,
    { key: 'lifecycle_1', label: `lifecycle of ${tasks(plan.lifecycle1Tasks)}, worker concurrency 1 (tasks/s)`, better: 'higher' },
    { key: 'lifecycle_10', label: `lifecycle of ${tasks(plan.lifecycleTasks)}, worker concurrency 10 (tasks/s)`, better: 'higher' },
    ...cpuRows('lifecycle_10', 'lifecycle, concurrency 10'),
    { key: 'lifecycle_50', label: `lifecycle of ${tasks(plan.lifecycleTasks)}, worker concurrency 50 (tasks/s)`, better: 'higher' },
    { key: 'drain_10', label: `drain of ${tasks(plan.lifecycleTasks)} pending, worker concurrency ${DRAIN_CONCURRENCY} (tasks/s)`, better: 'higher' },
    ...cpuRows('drain_10', 'drain'),
    { key: 'latency_p50_ms', label: `create → handler, p50 of ${tasks(plan.latencyTasks)} (ms)`, better: 'lower', digits: 2 },
    { key: 'latency_p99_ms', label: `create → handler, p99 of ${tasks(plan.latencyTasks)} (ms)`, better: 'lower', digits: 2 },
    { key: 'rss_idle_mib', label: 'server RSS idle (MiB)', better: 'lower', digits: 1 },
    { key: 'rss_lifecycle_peak_mib', label: 'server RSS peak during lifecycle (MiB)', better: 'lower', digits: 1 },
    { key: 'bytes_per_task', label: 'storage per pending task (bytes)', better: 'lower' },
  ];
}

const format = (value: number | undefined, digits = 0) =>
  value === undefined || Number.isNaN(value) ? '–' : value.toLocaleString('en', { maximumFractionDigits: digits, minimumFractionDigits: digits });

const ratio = (ours: number | undefined, theirs: number | undefined) =>
  ours === undefined || theirs === undefined || !theirs || Number.isNaN(ours) ? '–' : `${(ours / theirs).toFixed(2)}×`;

/**
 * The table: each system's figure, then each ratio's (one system's figure divided by another's).
 * Systems that were skipped, and ratios with one of them, get no column.
 */
export function table(plan: BenchPlan, systems: SystemResult[], ratios: [SystemResult, SystemResult][]): string {
  const shown = systems.filter((system) => !system.skipped);
  const divided = ratios.filter(([ours, theirs]) => !ours.skipped && !theirs.skipped);
  const header = ['scenario', ...shown.map((system) => system.name), ...divided.map(([ours, theirs]) => `${ours.name} ÷ ${theirs.name}`)];
  const lines = [`| ${header.join(' | ')} |`, `|${header.map((_, i) => (i === 0 ? ' --- ' : ' ---: ')).join('|')}|`];
  for (const row of rows(plan)) {
    const values = shown.map((system) => system.figures[row.key]);
    if (values.every((value) => value === undefined)) continue;
    const cells = [
      ...values.map((value) => format(value, row.digits)),
      ...divided.map(([ours, theirs]) => ratio(ours.figures[row.key], theirs.figures[row.key])),
    ];
    lines.push(`| ${row.label} | ${cells.join(' | ')} |`);
  }
  return lines.join('\n');
}

export interface TargetCheck {
  target: string;
  met: boolean | undefined;
  figure: string;
}

/** The systems the targets compare. */
export interface TargetSystems {
  prismq: SystemResult;
  prismqPg: SystemResult;
  bullmq: SystemResult;
  bullmqFsync: SystemResult;
  graphile: SystemResult;
}

/** Issue 11's performance targets, each met, missed, or not measurable in this run (undefined). */
export function targets(plan: BenchPlan, systems: TargetSystems): TargetCheck[] {
  const { prismq, prismqPg, bullmq, bullmqFsync, graphile } = systems;
  const ours = prismq.figures;
  const pg = prismqPg.figures;
  const check = (target: string, values: (number | undefined)[], met: (...values: number[]) => boolean, figure: (...values: number[]) => string) =>
    values.some((value) => value === undefined || Number.isNaN(value))
      ? { target, met: undefined, figure: 'not measured in this run' }
      : { target, met: met(...(values as number[])), figure: figure(...(values as number[])) };
  const [small, large] = [plan.readSizes[0]!, plan.readSizes.at(-1)!];
  const versus = (a: number, b: number) => `${format(a)} vs ${format(b)} tasks/s (${(a / b).toFixed(2)}×)`;
  const ms = (value: number) => format(value, 3);
  const cpuPerTask = (figures: Partial<Figures>) => (figures.cpu_server_ms_lifecycle_10 ?? NaN) + (figures.cpu_client_ms_lifecycle_10 ?? NaN);
  const pgCpu = cpuPerTask(pg);
  return [
    check(`SQLite: lifecycle at concurrency 10 ≥ 1× ${bullmqFsync.name}`, [ours.lifecycle_10, bullmqFsync.figures.lifecycle_10], (a, b) => a >= b, versus),
    check(`SQLite: lifecycle at concurrency 10 ≥ 0.6× ${bullmq.name}`, [ours.lifecycle_10, bullmq.figures.lifecycle_10], (a, b) => a >= 0.6 * b, versus),
    check(`PostgreSQL: lifecycle at concurrency 10 ≥ 0.5× ${graphile.name}`, [pg.lifecycle_10, graphile.figures.lifecycle_10], (a, b) => a >= 0.5 * b, versus),
    check(
      'SQLite: server + benchmark-process (worker) CPU per task in the lifecycle at concurrency 10 < 0.3 ms',
      [ours.cpu_server_ms_lifecycle_10, ours.cpu_client_ms_lifecycle_10],
      (a, b) => a + b < 0.3,
      (a, b) =>
        `${ms(a + b)} ms (server ${ms(a)} + benchmark process ${ms(b)}); on PostgreSQL ${
          Number.isNaN(pgCpu) ? 'not measured' : `${ms(pgCpu)} ms (server and PostgreSQL ${ms(pg.cpu_server_ms_lifecycle_10!)} + benchmark process ${ms(pg.cpu_client_ms_lifecycle_10!)})`
        }`,
    ),
    check('SQLite: create → handler p99 < 6 ms', [ours.latency_p99_ms, ours.latency_p50_ms], (a) => a < 6, (a, b) => `${format(a, 2)} ms (p50 ${format(b, 2)} ms)`),
    check(`SQLite: REST create at 32 in flight ≥ 0.5× ${bullmqFsync.name}`, [ours.create_32, bullmqFsync.figures.create_32], (a, b) => a >= 0.5 * b, versus),
    check(
      'SQLite: server RSS < 150 MB during the lifecycle',
      [ours.rss_lifecycle_peak_mib],
      (a) => a * 1.048576 < 150,
      (a) => `${format(a, 1)} MiB (${format(a * 1.048576, 1)} MB)`,
    ),
    check(
      `SQLite: list with filters at ${large.toLocaleString('en')} tasks within 2× its time at ${small.toLocaleString('en')}`,
      [ours[`list_mean_ms_${large}`], ours[`list_mean_ms_${small}`]],
      (a, b) => a <= 2 * b,
      (a, b) => `${format(a, 2)} vs ${format(b, 2)} ms mean (${(a / b).toFixed(2)}×)`,
    ),
    check(
      `SQLite: search over ${large.toLocaleString('en')} tasks p95 < 100 ms`,
      [ours[`search_p95_ms_${large}`], ours[`search_p95_ms_${small}`]],
      (a) => a < 100,
      (a, b) => `${format(a, 2)} ms (${format(b, 2)} ms at ${small.toLocaleString('en')})`,
    ),
    check(
      `SQLite: the operator's filters and sorts at ${large.toLocaleString('en')} tasks within 2× of ${small.toLocaleString('en')}`,
      [ours[`filters_p95_ms_${large}`], ours[`filters_p95_ms_${small}`]],
      (a, b) => a <= 2 * b,
      (a, b) => `${format(a, 2)} vs ${format(b, 2)} ms p95 (${(a / b).toFixed(2)}×)`,
    ),
  ];
}

export function targetLines(checks: TargetCheck[]): string {
  return checks.map(({ target, met, figure }) => `- ${met === undefined ? '–' : met ? 'met' : 'MISSED'}: ${target}: ${figure}`).join('\n');
}
