/**
 * What the benchmark measures, for each system in the same run: PrismQ over HTTP (on SQLite, and
 * on PostgreSQL where `@prismq/db` has that engine), its data-access layer called directly, and
 * the anchors (BullMQ on Redis without persistence and on Redis with `appendfsync always`;
 * pg-boss and Graphile Worker on PostgreSQL); the plan of sizes they all share; and how a
 * throughput is counted.
 */
import type { CpuWindow } from './cpu.js';

/** How long and how large each scenario runs. `--quick` shrinks everything to a smoke test. */
export interface BenchPlan {
  quick: boolean;
  /** Seconds each throughput measurement runs, after a warm-up. */
  durationSeconds: number;
  /** Seconds of warm-up before a throughput measurement, not counted. */
  warmupSeconds: number;
  /** Tasks pushed through the full lifecycle at concurrency 10 and 50, and drained. */
  lifecycleTasks: number;
  /**
   * Tasks pushed through the lifecycle at concurrency 1, fewer for every system: with a commit or
   * a round trip per step it was the slowest scenario (a minute for PrismQ on PostgreSQL at
   * 5,000), and no target judges it.
   */
  lifecycle1Tasks: number;
  /** Trials of create → handler start, one at a time on an idle queue. */
  latencyTasks: number;
  /** Pending tasks added to measure storage bytes per task. */
  storageTasks: number;
  /** Database sizes for get and list. */
  readSizes: number[];
}

export const LIFECYCLE_CONCURRENCIES = [1, 10, 50] as const;

/** Tasks of the lifecycle at `concurrency`, the same for every system. */
export const lifecycleTasks = (plan: BenchPlan, concurrency: number): number => (concurrency === 1 ? plan.lifecycle1Tasks : plan.lifecycleTasks);

/** Worker concurrency of the drain scenario (`drain_10`): the plan's lifecycle tasks all pending before the worker starts. */
export const DRAIN_CONCURRENCY = 10;

/** Claims left waiting on an idle type while creates are measured (`create_1_idle_polls`). */
export const IDLE_POLLS = 200;

/** The throughput scenarios whose CPU per task is measured (`cpu_server_ms_<scenario>`, `cpu_client_ms_<scenario>`). */
export type CpuScenario =
  | 'create_1'
  | 'create_32'
  | 'create_trpc_1'
  | 'create_trpc_32'
  | 'create_client_1'
  | 'create_client_32'
  | 'create_1_idle_polls'
  | 'batch_100'
  | `lifecycle_${(typeof LIFECYCLE_CONCURRENCIES)[number]}`
  | 'drain_10';

/**
 * CPU time per task over a scenario's measured part, ms (see cpu.ts): of the system's server side
 * (PrismQ's server process, with PostgreSQL's processes for PrismQ on PostgreSQL; Redis;
 * PostgreSQL's processes) and of this benchmark process (producers, workers, load generator).
 */
export type CpuFigures = { [Key in `cpu_${'server' | 'client'}_ms_${CpuScenario}`]: number };

/**
 * Figures of one system. Throughputs are per second, latencies in milliseconds, sizes in bytes or
 * MiB as named. Absent where the system has no such scenario or it was not run.
 */
export type Figures = ScenarioFigures & CpuFigures;

export interface ScenarioFigures {
  /**
   * Tasks created per second, one per call, one call in flight; PrismQ's is its REST path driven
   * raw by autocannon (a pre-serialised body, no client library).
   */
  create_1: number;
  /** The same with 32 calls (connections) in flight. */
  create_32: number;
  /** PrismQ's tRPC path, driven raw by autocannon, 1 and 32 connections. */
  create_trpc_1: number;
  create_trpc_32: number;
  /** PrismQ through `@prismq/client` (`tasks.create.mutate`, `batch: false`), 1 and 32 concurrent callers. */
  create_client_1: number;
  create_client_32: number;
  /** create_1 while 200 claims of another type long-poll (PrismQ only): idle workers' cost. */
  create_1_idle_polls: number;
  /** Tasks created per second, 100 per call, 4 calls in flight. */
  batch_100: number;
  /** Tasks per second through create → claim → complete, worker concurrency 1, 10, 50 (see `lifecycleTasks`). */
  lifecycle_1: number;
  lifecycle_10: number;
  lifecycle_50: number;
  /**
   * Tasks per second through claim → complete when the plan's lifecycle tasks are all pending
   * before a worker of concurrency 10 starts; from starting the worker until all are recorded
   * completed (the worker's start-up included).
   */
  drain_10: number;
  /** Create → handler start on an idle queue, ms. */
  latency_p50_ms: number;
  latency_p99_ms: number;
  /** Storage grown per pending task (file, Redis memory or table size). */
  bytes_per_task: number;
  /** Server resident memory, MiB: idle, and the peak during the lifecycle scenario. */
  rss_idle_mib: number;
  rss_lifecycle_peak_mib: number;
  /** Per database size: get by id and list with filters, requests per second; list latency mean and p99, ms. */
  [readFigure: `get_${number}` | `list_${number}` | `list_mean_ms_${number}` | `list_p99_ms_${number}`]: number;
  /**
   * Per database size, one request at a time over HTTP: p95 of a search (`q`: a rare word, a word
   * in every task, a word of an error, two words), and p95 of a page of each of the operator's
   * filters and sorts (see OPERATOR_LISTS in reads.ts), ms.
   */
  [operatorFigure: `search_p95_ms_${number}` | `filters_p95_ms_${number}`]: number;
}

export interface SystemResult {
  /** e.g. "BullMQ". */
  name: string;
  /** Versions and set-up, e.g. "bullmq 6.7.0, Redis 7.0.15 on 127.0.0.1:6379". */
  detail: string;
  figures: Partial<Figures>;
  /** Why the system was not measured (its server is unreachable), if it was not. */
  skipped?: string;
  /** Remarks on how the system is set up and how a figure was taken where it differs from the others. */
  notes?: string[];
}

/** Where progress lines go (stderr), so stdout keeps the report. */
export type Log = (line: string) => void;

/** p-th percentile (0–100) of unsorted samples, nearest rank. */
export function percentile(samples: number[], p: number): number {
  if (samples.length === 0) return NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

/**
 * Runs `loops` concurrent loops of `operation` for the plan's warm-up then its duration, and
 * returns units per second over the measured part (each call reports how many units it did).
 * Time is read on every call, not by a timer: an operation that never yields to the event loop
 * (a synchronous store behind a promise) must still stop. `cpu` is started by the first call
 * that ends in the measured part and ended, with the units counted, by the first after it.
 */
export async function throughput(plan: BenchPlan, loops: number, operation: (loop: number) => Promise<number>, cpu?: CpuWindow): Promise<number> {
  const measureFrom = performance.now() + plan.warmupSeconds * 1000;
  const measureTo = measureFrom + plan.durationSeconds * 1000;
  let units = 0;
  let phase: 'warm-up' | 'measuring' | 'over' = 'warm-up';
  let failed = false;
  const run = async (loop: number) => {
    try {
      while (!failed) {
        const done = await operation(loop);
        const now = performance.now();
        if (now >= measureTo) {
          if (phase === 'measuring') cpu?.end(units);
          phase = 'over';
          return;
        }
        if (now >= measureFrom) {
          if (phase === 'warm-up') cpu?.start();
          phase = 'measuring';
          units += done;
        }
      }
    } catch (error) {
      failed = true; // the other loops stop too, and the first error is thrown
      throw error;
    }
  };
  await Promise.all(Array.from({ length: loops }, (_, loop) => run(loop)));
  return units / plan.durationSeconds;
}
