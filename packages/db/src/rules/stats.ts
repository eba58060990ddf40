/**
 * The queue's statistics, from rollups: per type and minute, how many attempts completed, failed
 * for good or failed to be retried, and histograms of queue wait (due → claimed) and run time
 * (claimed → finished). The engines fold the log of task changes into those rollups (see
 * foldStats in ./sqlite/stats.ts and ./postgres/stats.ts); these rules say what a fold adds and
 * what a reader is told, the same on every engine.
 */
import type { TaskCount } from '../store.js';
import type { TaskChangeKind, TaskStatus } from '../types.js';

/**
 * Upper bounds of the histograms' buckets, in milliseconds (the last is unbounded): about three
 * per decade from 1 ms to a day, so a percentile read from them is within one bucket's width.
 */
export const STAT_BUCKETS_MS = [
  1, 2, 5, 10, 20, 50, 100, 200, 500, 1_000, 2_000, 5_000, 10_000, 30_000, 60_000, 120_000, 300_000, 600_000, 1_800_000, 3_600_000,
  7_200_000, 21_600_000, 43_200_000, 86_400_000, Infinity,
] as const;

/** Counts per bucket of STAT_BUCKETS_MS. */
export type Histogram = number[];

export const emptyHistogram = (): Histogram => STAT_BUCKETS_MS.map(() => 0);

/** Adds one observation of `ms` (negative ones count as 0: clocks of replicas may differ a little). */
export function observe(histogram: Histogram, ms: number): void {
  const index = STAT_BUCKETS_MS.findIndex((bound) => Math.max(0, ms) <= bound);
  histogram[index] = (histogram[index] ?? 0) + 1;
}

/** Adds `b` into `a`. */
export function mergeHistogram(a: Histogram, b: readonly number[]): Histogram {
  for (let i = 0; i < a.length; i++) a[i] = (a[i] ?? 0) + (b[i] ?? 0);
  return a;
}

/**
 * The `q` quantile (0 to 1) of a histogram, in milliseconds, interpolated within its bucket;
 * null when it is empty. In the last, unbounded bucket: its lower bound.
 */
export function percentile(histogram: readonly number[], q: number): number | null {
  const total = histogram.reduce((sum, n) => sum + n, 0);
  if (total === 0) return null;
  const rank = q * total;
  let seen = 0;
  for (let i = 0; i < histogram.length; i++) {
    const n = histogram[i] ?? 0;
    if (n > 0 && seen + n >= rank) {
      const lower = i === 0 ? 0 : STAT_BUCKETS_MS[i - 1]!;
      const upper = STAT_BUCKETS_MS[i]!;
      if (upper === Infinity) return lower;
      return Math.round(lower + ((upper - lower) * Math.max(0, rank - seen)) / n);
    }
    seen += n;
  }
  return STAT_BUCKETS_MS[STAT_BUCKETS_MS.length - 2]!;
}

/** The minute an ISO time falls in, as rollups are keyed: `YYYY-MM-DDTHH:MM`. */
export const minuteOf = (iso: string): string => iso.slice(0, 16);

/** Changes folded per transaction: a short write, however far behind the fold is. */
export const STATS_FOLD_BATCH = 2000;

/** Changes folded by one foldStats at most; the next call goes on. */
export const STATS_FOLD_MAX = 100_000;

/**
 * Runs an engine's fold (one transaction of at most STATS_FOLD_BATCH changes, answering how many
 * it read) until it has caught up or folded STATS_FOLD_MAX; returns how many it folded.
 */
export async function foldInBatches(foldBatch: () => Promise<number>): Promise<number> {
  let folded = 0;
  let batch: number;
  do folded += batch = await foldBatch();
  while (batch >= STATS_FOLD_BATCH && folded < STATS_FOLD_MAX);
  return folded;
}

/** Rollups older than this are deleted by the fold: the stats look back a day. */
export const STATS_KEPT_MS = 25 * 3_600_000;

/** One rollup: a type's attempts that ended, and the waits and runs observed, in one minute. */
export interface StatsRollup {
  task_type_id: number;
  /** `YYYY-MM-DDTHH:MM`, UTC. */
  minute: string;
  /** Attempts that completed. */
  completed: number;
  /** Attempts that failed with no retry left (the task failed). */
  failed: number;
  /** Attempts that failed and were put back to be retried. */
  retried: number;
  /** Queue waits: from when a task was due (its run_at) to its claim, per claim. */
  wait_hist: Histogram;
  /** Run times: from a claim to the attempt's end. */
  run_hist: Histogram;
}

/** A change of the log as a fold reads it, with the times it needs from the task and the attempt. */
export interface FoldedChange {
  task_type_id: number;
  kind: TaskChangeKind;
  at: string;
  /** The task's status after the change. */
  status: TaskStatus;
  /** For `claimed`: the task's run_at (null when it was deleted since). */
  run_at: string | null;
  /** For an attempt's end: when it was claimed (null when unknown). */
  claimed_at: string | null;
}

/** Folds changes into rollups by type and minute (created as needed in `into`, keyed `type minute`). */
export function foldChanges(changes: readonly FoldedChange[], into: Map<string, StatsRollup>): Map<string, StatsRollup> {
  for (const change of changes) {
    const ending = change.kind === 'completed' || change.kind === 'failed' || change.kind === 'lease_expired';
    if (change.kind !== 'claimed' && !ending) continue;
    const minute = minuteOf(change.at);
    const key = `${change.task_type_id} ${minute}`;
    let rollup = into.get(key);
    if (!rollup) {
      rollup = { task_type_id: change.task_type_id, minute, completed: 0, failed: 0, retried: 0, wait_hist: emptyHistogram(), run_hist: emptyHistogram() };
      into.set(key, rollup);
    }
    if (change.kind === 'claimed') {
      if (change.run_at) observe(rollup.wait_hist, Date.parse(change.at) - Date.parse(change.run_at));
      continue;
    }
    if (change.kind === 'completed') rollup.completed++;
    else if (change.status === 'failed') rollup.failed++;
    else rollup.retried++;
    if (change.claimed_at) observe(rollup.run_hist, Date.parse(change.at) - Date.parse(change.claimed_at));
  }
  return into;
}

/** A rollup with `added` folded in (for the same type and minute). */
export function addRollup(stored: StatsRollup, added: StatsRollup): StatsRollup {
  return {
    ...stored,
    completed: stored.completed + added.completed,
    failed: stored.failed + added.failed,
    retried: stored.retried + added.retried,
    wait_hist: mergeHistogram([...stored.wait_hist], added.wait_hist),
    run_hist: mergeHistogram([...stored.run_hist], added.run_hist),
  };
}

/** Attempts that ended in one period. */
export interface Throughput {
  /** The start of the period, ISO 8601. */
  at: string;
  completed: number;
  failed: number;
  retried: number;
}

export interface TypeStats {
  task_type_id: number;
  task_type: string;
  /** Tasks in each status now. */
  counts: Record<TaskStatus, number>;
  /** Seconds since the oldest pending task was created; null when none is pending. */
  oldest_pending_age_seconds: number | null;
  /** Over the last hour. */
  last_hour: {
    completed: number;
    failed: number;
    retried: number;
    /** Queue wait (due → claimed) in milliseconds, p50 and p95; null with no claims. */
    wait_ms: { p50: number | null; p95: number | null };
    /** Run time (claimed → finished) in milliseconds, p50 and p95; null with no attempts ended. */
    run_ms: { p50: number | null; p95: number | null };
  };
}

export interface Stats {
  /** When these figures were read. */
  at: string;
  types: TypeStats[];
  /** All types: the last 60 minutes, a minute each, oldest first (the current minute last). */
  per_minute: Throughput[];
  /** All types: the last 24 hours, an hour each, oldest first (the current hour last). */
  per_hour: Throughput[];
}

const ZERO_COUNTS = (): Record<TaskStatus, number> => ({ pending: 0, running: 0, completed: 0, failed: 0, cancelled: 0 });

/** Builds the stats read at `now` from the counts, each type's oldest pending task and the rollups of the last STATS_KEPT_MS. */
export function summarizeStats(
  now: Date,
  types: readonly { id: number; name: string; oldest_pending: string | null }[],
  counts: readonly TaskCount[],
  rollups: readonly StatsRollup[],
): Stats {
  const nowMs = now.getTime();
  const minuteMs = 60_000;
  const hourMs = 3_600_000;
  const thisMinute = Math.floor(nowMs / minuteMs) * minuteMs;
  const thisHour = Math.floor(nowMs / hourMs) * hourMs;
  const period = (start: number): Throughput => ({ at: new Date(start).toISOString(), completed: 0, failed: 0, retried: 0 });
  const perMinute = Array.from({ length: 60 }, (_, i) => period(thisMinute - (59 - i) * minuteMs));
  const perHour = Array.from({ length: 24 }, (_, i) => period(thisHour - (23 - i) * hourMs));
  const firstMinute = thisMinute - 59 * minuteMs;
  const firstHour = thisHour - 23 * hourMs;

  const byType = new Map<number, TypeStats & { wait: Histogram; run: Histogram }>();
  const byName = new Map<string, number>();
  for (const type of types) {
    byName.set(type.name, type.id);
    byType.set(type.id, {
      task_type_id: type.id,
      task_type: type.name,
      counts: ZERO_COUNTS(),
      oldest_pending_age_seconds: type.oldest_pending === null ? null : Math.max(0, (nowMs - Date.parse(type.oldest_pending)) / 1000),
      last_hour: { completed: 0, failed: 0, retried: 0, wait_ms: { p50: null, p95: null }, run_ms: { p50: null, p95: null } },
      wait: emptyHistogram(),
      run: emptyHistogram(),
    });
  }
  for (const count of counts) {
    const id = byName.get(count.task_type);
    if (id !== undefined) byType.get(id)!.counts[count.status] = count.count;
  }
  const add = (into: Throughput | undefined, rollup: StatsRollup) => {
    if (!into) return;
    into.completed += rollup.completed;
    into.failed += rollup.failed;
    into.retried += rollup.retried;
  };
  for (const rollup of rollups) {
    const start = Date.parse(`${rollup.minute}:00.000Z`);
    if (start > nowMs) continue;
    add(perMinute[(start - firstMinute) / minuteMs], rollup);
    add(perHour[Math.floor((start - firstHour) / hourMs)], rollup);
    const type = byType.get(rollup.task_type_id);
    if (type && start >= firstMinute) {
      type.last_hour.completed += rollup.completed;
      type.last_hour.failed += rollup.failed;
      type.last_hour.retried += rollup.retried;
      mergeHistogram(type.wait, rollup.wait_hist);
      mergeHistogram(type.run, rollup.run_hist);
    }
  }
  return {
    at: now.toISOString(),
    types: [...byType.values()].map(({ wait, run, ...type }) => ({
      ...type,
      last_hour: {
        ...type.last_hour,
        wait_ms: { p50: percentile(wait, 0.5), p95: percentile(wait, 0.95) },
        run_ms: { p50: percentile(run, 0.5), p95: percentile(run, 0.95) },
      },
    })),
    per_minute: perMinute,
    per_hour: perHour,
  };
}
