import { sql } from 'drizzle-orm';
import { blob, index, integer, primaryKey, real, sqliteTable, text, uniqueIndex } from 'drizzle-orm/sqlite-core';
import { taskListIndexes } from './schema-indexes.js';

import {
  DEFAULT_MAX_ATTEMPTS,
  DEFAULT_RETRY_BASE_SECONDS,
  DEFAULT_RETRY_MAX_SECONDS,
  ATTEMPT_OUTCOMES,
  TASK_CHANGE_KINDS,
  TASK_STATUSES,
  type JsonObject,
  type TokenScope,
  type Task,
  type TaskType,
} from './types.js';

/**
 * Registry of the kinds of task the system knows about.
 * Column names are the wire names, so rows need no mapping on their way out.
 */
export const taskTypes = sqliteTable('task_types', {
  id: integer('id').primaryKey({ autoIncrement: true }),
  name: text('name').notNull().unique(),
  description: text('description'),
  parameters_schema: text('parameters_schema', { mode: 'json' }).$type<JsonObject>().notNull().default(sql`'{}'`),
  metadata: text('metadata', { mode: 'json' }).$type<JsonObject>().notNull().default(sql`'{}'`),
  is_active: integer('is_active', { mode: 'boolean' }).notNull().default(true),
  created_at: text('created_at').notNull(),
  updated_at: text('updated_at'),
  max_attempts: integer('max_attempts').notNull().default(DEFAULT_MAX_ATTEMPTS),
  retry_base_seconds: real('retry_base_seconds').notNull().default(DEFAULT_RETRY_BASE_SECONDS),
  retry_max_seconds: real('retry_max_seconds').notNull().default(DEFAULT_RETRY_MAX_SECONDS),
});

/** Task instances: one row per unit of work to run. */
export const taskList = sqliteTable(
  'task_list',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    task_type_id: integer('task_type_id')
      .notNull()
      .references(() => taskTypes.id),
    status: text('status', { enum: TASK_STATUSES }).notNull().default('pending'),
    parameters: text('parameters', { mode: 'json' }).$type<JsonObject>().notNull().default(sql`'{}'`),
    priority: integer('priority').notNull().default(100),
    metadata: text('metadata', { mode: 'json' }).$type<JsonObject>().notNull().default(sql`'{}'`),
    result: text('result', { mode: 'json' }).$type<unknown>(),
    error_message: text('error_message'),
    created_at: text('created_at').notNull(),
    updated_at: text('updated_at'),
    started_at: text('started_at'),
    completed_at: text('completed_at'),
    attempts: integer('attempts').notNull().default(0),
    max_attempts: integer('max_attempts').notNull().default(DEFAULT_MAX_ATTEMPTS),
    /** Not claimable before this time. Set to `created_at` for rows that predate the column. */
    run_at: text('run_at').notNull().default(''),
    worker_id: text('worker_id'),
    /** Fencing token of the current claim: fresh for every claim, required to settle it. */
    lease_id: text('lease_id'),
    lease_expires_at: text('lease_expires_at'),
    idempotency_key: text('idempotency_key'),
    /** 0 to 100: how far the current or last attempt got, as its worker last reported. Cleared by a claim. */
    progress: real('progress'),
    /** What the worker said with that progress. */
    progress_message: text('progress_message'),
  },
  (t) => taskListIndexes(t, index, uniqueIndex),
);

/**
 * Every attempt of every task: one row per claim, written and closed by triggers on task_list
 * (migration 0006) in the transaction of the claim, heartbeat or settlement, whichever path made
 * it. Deleted with its task.
 */
export const taskAttempts = sqliteTable(
  'task_attempts',
  {
    /** Assigned by the database; orders a task's attempts. */
    id: integer('id').primaryKey(),
    /** The task. */
    task_id: integer('task_id')
      .notNull()
      .references(() => taskList.id, { onDelete: 'cascade' }),
    /** The task's attempt count when claimed. */
    attempt: integer('attempt').notNull(),
    /** The worker that claimed it. */
    worker_id: text('worker_id'),
    /** The claim's fencing token: how the triggers find the attempt a change of the task belongs to. */
    lease_id: text('lease_id').notNull(),
    /** When it was claimed. */
    claimed_at: text('claimed_at').notNull(),
    /** Heartbeats during it. */
    heartbeats: integer('heartbeats').notNull().default(0),
    /** The last progress reported (0 to 100). */
    progress: real('progress'),
    /** What the worker said with it. */
    progress_message: text('progress_message'),
    /** When it ended. */
    finished_at: text('finished_at'),
    /** completed, failed, lease_expired or cancelled. */
    outcome: text('outcome', { enum: ATTEMPT_OUTCOMES }),
    /** Why it failed. */
    error_message: text('error_message'),
  },
  (t) => [index('task_attempts_task_idx').on(t.task_id, t.lease_id)],
);

/**
 * The log of what happened to tasks, appended by triggers on task_list (migration 0006) in the
 * transaction of every write: live events and waits for results read it after the last id they
 * saw. Ids are never reused (AUTOINCREMENT) and, with one writer at a time, in commit order.
 * Kept for EVENT_RETENTION, whatever becomes of the tasks.
 */
export const taskEvents = sqliteTable('task_events', {
  /** Position in the log. */
  id: integer('id').primaryKey({ autoIncrement: true }),
  /** The task (not a foreign key: the log outlives deleted tasks). */
  task_id: integer('task_id').notNull(),
  /** Its type. */
  task_type_id: integer('task_type_id').notNull(),
  /** What happened (see TASK_CHANGE_KINDS). */
  kind: text('kind', { enum: TASK_CHANGE_KINDS }).notNull(),
  /** When. */
  at: text('at').notNull(),
  /** The task's status after it. */
  status: text('status', { enum: TASK_STATUSES }).notNull(),
  /** The task's attempt count after it. */
  attempt: integer('attempt').notNull(),
  /** The worker concerned, if any. */
  worker_id: text('worker_id'),
  /** Reported progress, for `progress`. */
  progress: real('progress'),
  /** The progress message, or the error of a failed attempt. */
  message: text('message'),
});


/**
 * How many tasks each type has in each status, kept by triggers on task_list (migration 0004) in
 * the same transaction as every insert, status change and delete: the queue depth is read
 * without counting rows.
 */
export const taskCounts = sqliteTable(
  'task_counts',
  {
    task_type_id: integer('task_type_id').notNull(),
    status: text('status', { enum: TASK_STATUSES }).notNull(),
    count: integer('count').notNull(),
  },
  (t) => [primaryKey({ columns: [t.task_type_id, t.status] })],
);

/**
 * The queue's statistics: per type and minute, the attempts that ended and histograms of queue
 * wait and run time (see rules/stats.ts), folded from task_events by foldStats (./sqlite/stats.ts)
 * and kept for a day. Reading them costs the same at any number of tasks.
 */
export const taskStats = sqliteTable(
  'task_stats',
  {
    /** The type. */
    task_type_id: integer('task_type_id').notNull(),
    /** `YYYY-MM-DDTHH:MM`, UTC. */
    minute: text('minute').notNull(),
    /** Attempts that completed. */
    completed: integer('completed').notNull().default(0),
    /** Attempts that failed with no retry left. */
    failed: integer('failed').notNull().default(0),
    /** Attempts that failed and were put back for a retry. */
    retried: integer('retried').notNull().default(0),
    /** Queue waits, a JSON array of counts per bucket of STAT_BUCKETS_MS. */
    wait_hist: text('wait_hist').notNull(),
    /** Run times, likewise. */
    run_hist: text('run_hist').notNull(),
  },
  (t) => [primaryKey({ columns: [t.task_type_id, t.minute] })],
);

/** How far foldStats has read task_events: one row. */
export const statsPosition = sqliteTable('stats_position', {
  /** Always 1. */
  id: integer('id').primaryKey(),
  /** The id of the last change folded. */
  position: integer('position').notNull(),
});

/** API tokens: only a hash of each secret is kept. */
export const apiTokens = sqliteTable('api_tokens', {
  id: integer('id').primaryKey({ autoIncrement: true }),
  name: text('name').notNull().unique(),
  scopes: text('scopes', { mode: 'json' }).$type<TokenScope[]>().notNull(),
  /** SHA-256 of the secret part, hex. */
  secret_hash: text('secret_hash').notNull(),
  created_at: text('created_at').notNull(),
  revoked_at: text('revoked_at'),
  last_used_at: text('last_used_at'),
});

/**
 * Empty but for a moment: the store's health check, after a write failed for storage (a full
 * disk), writes a row of one page here and deletes it in the same transaction, to learn whether
 * the database can grow again (see probeStorage in ./sqlite/storage.ts).
 */
export const storageProbe = sqliteTable('storage_probe', {
  id: integer('id').primaryKey(),
  filler: blob('filler'),
});

// The rows that drizzle reads must be exactly the domain types of ./types.ts.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const rowTypesMatch: [Same<typeof taskTypes.$inferSelect, TaskType>, Same<typeof taskList.$inferSelect, Task>] = [true, true];
void rowTypesMatch;
