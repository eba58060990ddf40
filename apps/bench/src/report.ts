/**
 * Turns the systems' figures into the printed table (Markdown, so it can go into the README as
 * is), the list of targets met or missed, and the JSON record.
 */
import { DRAIN_CONCURRENCY, IDLE_POLLS, type BenchPlan, type Figures, type SystemResult } from './figures.js';

interface Row {
  key: keyof Figures;
  label: string;
  /** Whether more is better (throughputs) or less (latency, memory, bytes). */
  better: 'higher' | 'lower';
  digits?: number;
}

export function rows(plan: BenchPlan): Row[] {
  const perSize = plan.readSizes.flatMap((size): Row[] => [
    { key: `get_${size}`, label: `get by id, ${size.toLocaleString('en')} tasks (req/s, 8 conns)`, better: 'higher' },
    { key: `list_${size}`, label: `list with filters, ${size.toLocaleString('en')} tasks (req/s, 8 conns)`, better: 'higher' },
    { key: `list_mean_ms_${size}`, label: `list mean latency, ${size.toLocaleString('en')} tasks (ms)`, better: 'lower', digits: 2 },
  ]);
  return [
    { key: 'create_1', label: 'create, 1 per request, 1 conn (tasks/s)', better: 'higher' },
    { key: 'create_32', label: 'create, 1 per request, 32 conns (tasks/s)', better: 'higher' },
    { key: 'create_trpc_1', label: 'create over tRPC, 1 conn (tasks/s)', better: 'higher' },
    { key: 'create_trpc_32', label: 'create over tRPC, 32 conns (tasks/s)', better: 'higher' },
    { key: 'create_1_idle_polls', label: `create, 1 conn, beside ${IDLE_POLLS} idle long polls (tasks/s)`, better: 'higher' },
    { key: 'batch_100', label: 'batch create, 100 per request, 4 conns (tasks/s)', better: 'higher' },
    ...perSize,
    { key: 'lifecycle_1', label: 'lifecycle, worker concurrency 1 (tasks/s)', better: 'higher' },
    { key: 'lifecycle_10', label: 'lifecycle, worker concurrency 10 (tasks/s)', better: 'higher' },
    { key: 'lifecycle_50', label: 'lifecycle, worker concurrency 50 (tasks/s)', better: 'higher' },
    { key: 'drain_10', label: `drain of ${plan.lifecycleTasks.toLocaleString('en')} pending, worker concurrency ${DRAIN_CONCURRENCY} (tasks/s)`, better: 'higher' },
    { key: 'latency_p50_ms', label: 'create → handler, p50 (ms)', better: 'lower', digits: 2 },
    { key: 'latency_p99_ms', label: 'create → handler, p99 (ms)', better: 'lower', digits: 2 },
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
  dal: SystemResult;
  bullmq: SystemResult;
  pgBoss: SystemResult;
  graphile: SystemResult;
}

/** The performance targets, each met, missed, or not measurable in this run (undefined). */
export function targets(plan: BenchPlan, systems: TargetSystems): TargetCheck[] {
  const { prismq, prismqPg, dal, bullmq, pgBoss, graphile } = systems;
  const ours = prismq.figures;
  const pg = prismqPg.figures;
  const check = (target: string, values: (number | undefined)[], met: (...values: number[]) => boolean, figure: (...values: number[]) => string) =>
    values.some((value) => value === undefined || Number.isNaN(value))
      ? { target, met: undefined, figure: 'not measured in this run' }
      : { target, met: met(...(values as number[])), figure: figure(...(values as number[])) };
  const [small, large] = [plan.readSizes[0]!, plan.readSizes.at(-1)!];
  const versus = (a: number, b: number) => `${format(a)} vs ${format(b)} tasks/s (${(a / b).toFixed(2)}×)`;
  const graphileLifecycle = graphile.figures.lifecycle_10;
  const besideGraphile = (a: number) =>
    graphileLifecycle === undefined || Number.isNaN(graphileLifecycle)
      ? '; Graphile Worker not measured in this run'
      : `; Graphile Worker ${format(graphileLifecycle)} tasks/s (${(a / graphileLifecycle).toFixed(2)}×)`;
  return [
    check(
      'PostgreSQL: lifecycle at concurrency 10 over HTTP ≥ 2× pg-boss (tuned)',
      [pg.lifecycle_10, pgBoss.figures.lifecycle_10],
      (a, b) => a >= 2 * b,
      (a, b) => `${versus(a, b)}${besideGraphile(a)}`,
    ),
    check(
      'PostgreSQL: long-poll latency p99 < 15 ms on an idle server',
      [pg.latency_p99_ms],
      (a) => a < 15,
      (a) => `${format(a, 2)} ms (p50 ${format(pg.latency_p50_ms, 2)} ms)`,
    ),
    check('SQLite: lifecycle at concurrency 10 ≥ BullMQ', [ours.lifecycle_10, bullmq.figures.lifecycle_10], (a, b) => a >= b, versus),
    check('SQLite: lifecycle at concurrency 10 ≥ 2× pg-boss (tuned)', [ours.lifecycle_10, pgBoss.figures.lifecycle_10], (a, b) => a >= 2 * b, versus),
    // Like for like: the DAL's rate with 32 concurrent callers, whose inserts share commits as
    // the server's do; its single-caller rate is shown beside it.
    check(
      'SQLite: REST create at 32 conns ≥ 30% of the DAL insert rate (32 callers)',
      [ours.create_32, dal.figures.create_32, dal.figures.create_1],
      (a, b) => a >= 0.3 * b,
      (a, b, c) => `${format(a)} vs ${format(b)} tasks/s (${((100 * a) / b).toFixed(0)}%; ${((100 * a) / c).toFixed(0)}% of the DAL's 1-caller ${format(c)})`,
    ),
    check(
      'SQLite: REST batch create ≥ 50% of the DAL batch insert rate',
      [ours.batch_100, dal.figures.batch_100],
      (a, b) => a >= 0.5 * b,
      (a, b) => `${format(a)} vs ${format(b)} tasks/s (${((100 * a) / b).toFixed(0)}%)`,
    ),
    check(
      'SQLite: long-poll latency p99 < 10 ms on an idle server',
      [ours.latency_p99_ms],
      (a) => a < 10,
      (a) => `${format(a, 2)} ms`,
    ),
    check(
      `SQLite: list with filters at ${large.toLocaleString('en')} within 2× its time at ${small.toLocaleString('en')}`,
      [ours[`list_mean_ms_${large}`], ours[`list_mean_ms_${small}`]],
      (a, b) => a <= 2 * b,
      (a, b) => `${format(a, 2)} vs ${format(b, 2)} ms mean (${(a / b).toFixed(2)}×)`,
    ),
    check(
      'SQLite: server RSS < 150 MB during the lifecycle scenario',
      [ours.rss_lifecycle_peak_mib],
      (a) => a * 1.048576 < 150,
      (a) => `${format(a, 1)} MiB (${format(a * 1.048576, 1)} MB)`,
    ),
  ];
}

export function targetLines(checks: TargetCheck[]): string {
  return checks.map(({ target, met, figure }) => `- ${met === undefined ? '–' : met ? 'met' : 'MISSED'}: ${target}: ${figure}`).join('\n');
}
