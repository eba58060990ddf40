/**
 * The scenarios every system runs, in one order and under the same conditions: PrismQ (on each
 * engine) and every anchor give their implementation of each scenario, and `runScenarios` runs
 * them. Before each scenario this process collects its garbage, so that none pays for what an
 * earlier one left; each throughput scenario's CPU per task is measured over its measured part.
 */
import { describe } from './anchors/common.js';
import { collectGarbage, CpuWindow, type ServerCpu } from './cpu.js';
import { DRAIN_CONCURRENCY, LIFECYCLE_CONCURRENCIES, lifecycleTasks, percentile, type BenchPlan, type CpuScenario, type Figures, type Log } from './figures.js';

/** What every system's scenarios are given. */
export interface ScenarioContext {
  plan: BenchPlan;
  log: Log;
  /** CPU time of the system's server side so far (see cpu.ts). */
  serverCpu: ServerCpu;
}

/**
 * Runs one throughput scenario under `label`, storing its figure as `key` and, where it measured
 * one, its CPU per task as `cpu_server_ms_<key>` and `cpu_client_ms_<key>`.
 */
export type Measure = (label: string, key: CpuScenario, run: (cpu: CpuWindow) => Promise<number>) => Promise<void>;

/**
 * A system's scenarios, each given the system's context and a CPU window to start and end around
 * its measured part (throughput scenarios), and giving its figure.
 */
export interface Scenarios<Context extends ScenarioContext> {
  /** Tasks added per second, one per call, by `loops` concurrent callers. */
  create(ctx: Context, loops: 1 | 32, cpu: CpuWindow): Promise<number>;
  /** The system's other ways to create one task (PrismQ's tRPC and client rows), run after `create`. */
  moreCreates?(ctx: Context, measure: Measure): Promise<void>;
  /** What the system calls adding many tasks at once, e.g. "addBulk". */
  batchCall: string;
  /** Tasks added per second, 100 per `batchCall`, by 4 concurrent callers. */
  batch(ctx: Context, cpu: CpuWindow): Promise<number>;
  /** What the system calls a worker's concurrency, e.g. "batchSize" (default "worker concurrency"). */
  concurrencyName?: string;
  /** Tasks per second while `tasks` are added 100 at a time and a worker of `concurrency` runs them. */
  lifecycle(ctx: Context, concurrency: number, tasks: number, cpu: CpuWindow): Promise<number>;
  /** Tasks per second when the plan's lifecycle tasks are all pending before a worker of `DRAIN_CONCURRENCY` starts. */
  drain(ctx: Context, cpu: CpuWindow): Promise<number>;
  /** Create → handler start, ms, one task at a time on an idle queue, the plan's latency trials. */
  latency(ctx: Context): Promise<number[]>;
  /** Bytes of storage per pending task, adding the plan's storage tasks. */
  storage(ctx: Context): Promise<number>;
}

/**
 * Runs a system's scenarios, each on its own, logging its label under `system`: a failure becomes
 * a note and a log line rather than an error, leaving that figure out, so that the other
 * scenarios still run. The order: creates by 1 and 32 callers (and the system's other create
 * paths), batches, lifecycle at each concurrency, drain, latency, storage.
 */
export async function runScenarios<Context extends ScenarioContext>(
  system: string,
  ctx: Context,
  figures: Partial<Figures>,
  notes: string[],
  scenarios: Scenarios<Context>,
): Promise<void> {
  const { plan, log } = ctx;
  const attempt = async (label: string, run: () => Promise<void>) => {
    collectGarbage();
    log(`${system}: ${label}`);
    try {
      await run();
    } catch (error) {
      notes.push(`${label} failed: ${describe(error)}`);
      log(`${system}: ${label} failed: ${describe(error)}`);
    }
  };
  const measure: Measure = (label, key, run) =>
    attempt(label, async () => {
      const cpu = new CpuWindow(ctx.serverCpu);
      figures[key] = await run(cpu);
      const perTask = await cpu.perTask();
      if (perTask) {
        figures[`cpu_server_ms_${key}`] = perTask.server;
        figures[`cpu_client_ms_${key}`] = perTask.client;
      }
    });
  const concurrencyName = scenarios.concurrencyName ?? 'worker concurrency';
  for (const loops of [1, 32] as const) {
    await measure(`create, ${loops} caller(s)`, `create_${loops}`, (cpu) => scenarios.create(ctx, loops, cpu));
  }
  await scenarios.moreCreates?.(ctx, measure);
  await measure(`batch create, 100 per ${scenarios.batchCall}, 4 callers`, 'batch_100', (cpu) => scenarios.batch(ctx, cpu));
  for (const concurrency of LIFECYCLE_CONCURRENCIES) {
    const tasks = lifecycleTasks(plan, concurrency);
    await measure(`lifecycle of ${tasks} tasks, ${concurrencyName} ${concurrency}`, `lifecycle_${concurrency}`, (cpu) =>
      scenarios.lifecycle(ctx, concurrency, tasks, cpu),
    );
  }
  await measure(`drain of ${plan.lifecycleTasks} pending tasks, ${concurrencyName} ${DRAIN_CONCURRENCY}`, 'drain_10', (cpu) => scenarios.drain(ctx, cpu));
  await attempt(`latency over ${plan.latencyTasks} tasks`, async () => {
    const samples = await scenarios.latency(ctx);
    if (samples.length !== plan.latencyTasks) throw new Error(`${samples.length} latency samples instead of ${plan.latencyTasks}`);
    figures.latency_p50_ms = percentile(samples, 50);
    figures.latency_p99_ms = percentile(samples, 99);
  });
  await attempt(`storage of ${plan.storageTasks} tasks`, async () => {
    figures.bytes_per_task = await scenarios.storage(ctx);
  });
}
