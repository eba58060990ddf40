/**
 * The PostgreSQL schema: the same tables and column names as the SQLite one (../schema.ts), so
 * that rows come out as the same domain types. Migrations: drizzle-postgres/, generated from
 * this file by `pnpm --filter @prismq/db db:generate:postgres`; the triggers that keep the task
 * counts are a custom migration there.
 *
 * Times are ISO 8601 UTC text with milliseconds and a `Z`, written by the store as SQLite's are
 * (see ../rules/time.ts), in the "C" collation so that text order is time order whatever the
 * database's collation: they come out exactly as written, with no formatting on the way out.
 * JSON is kept as text, as SQLite keeps it: exactly as given (key order included, which `jsonb`
 * would not keep), and its size is read without loading it (octet_length), for the task list's
 * page bound (see ./tasks.ts).
 */
import { sql } from 'drizzle-orm';
import { bigint, boolean, check, customType, doublePrecision, index, integer, pgTable, primaryKey, text, uniqueIndex } from 'drizzle-orm/pg-core';
import { taskListIndexes } from '../schema-indexes.js';
import {
  ATTEMPT_OUTCOMES,
  DEFAULT_MAX_ATTEMPTS,
  DEFAULT_RETRY_BASE_SECONDS,
  DEFAULT_RETRY_MAX_SECONDS,
  TASK_CHANGE_KINDS,
  TASK_STATUSES,
  type JsonObject,
  type Task,
  type TaskType,
  type TokenScope,
} from '../types.js';

/** An ISO 8601 UTC time as text, compared byte by byte. */
const isoTime = customType<{ data: string; driverData: string }>({ dataType: () => 'text COLLATE "C"' });

/** A JSON value, kept as its text. */
const jsonText = <T>(name: string) =>
  customType<{ data: T; driverData: string }>({
    dataType: () => 'text',
    toDriver: (value) => JSON.stringify(value),
    fromDriver: (value) => JSON.parse(value) as T,
  })(name);

/** Raw bytes. */
const bytea = customType<{ data: Buffer; driverData: Buffer }>({ dataType: () => 'bytea' });

/** A row id: 64 bits as in SQLite, read as a JavaScript number. */
const id = (name: string) => bigint(name, { mode: 'number' });

/** Registry of the kinds of task the system knows about. */
export const taskTypes = pgTable('task_types', {
  /** Assigned by the database, never reused. */
  id: id('id').primaryKey().generatedByDefaultAsIdentity(),
  /** Unique; never changes. */
  name: text('name').notNull().unique(),
  /** Free text for people. */
  description: text('description'),
  /** JSON Schema that the parameters of this type's tasks must fit; `{}` accepts anything. */
  parameters_schema: jsonText<JsonObject>('parameters_schema').notNull().default(sql`'{}'`),
  /** Free JSON for the caller. */
  metadata: jsonText<JsonObject>('metadata').notNull().default(sql`'{}'`),
  /** False once deactivated (a soft delete): takes no new tasks, and its tasks are not claimed. */
  is_active: boolean('is_active').notNull().default(true),
  /** When it was created. */
  created_at: isoTime('created_at').notNull(),
  /** When it last changed; with created_at, the version its tasks' parameters are validated against. */
  updated_at: isoTime('updated_at'),
  /** Default `max_attempts` of its tasks. */
  max_attempts: integer('max_attempts').notNull().default(DEFAULT_MAX_ATTEMPTS),
  /** Delay before the first retry, in seconds (before jitter). */
  retry_base_seconds: doublePrecision('retry_base_seconds').notNull().default(DEFAULT_RETRY_BASE_SECONDS),
  /** Longest delay between attempts, in seconds. */
  retry_max_seconds: doublePrecision('retry_max_seconds').notNull().default(DEFAULT_RETRY_MAX_SECONDS),
});

/** Task instances: one row per unit of work to run. */
export const taskList = pgTable(
  'task_list',
  {
    /** Assigned by the database, never reused. */
    id: id('id').primaryKey().generatedByDefaultAsIdentity(),
    /** Its type. */
    task_type_id: id('task_type_id')
      .notNull()
      .references(() => taskTypes.id),
    /** pending, running, completed, failed or cancelled. */
    status: text('status', { enum: TASK_STATUSES }).notNull().default('pending'),
    /** The input, fitting the type's schema. */
    parameters: jsonText<JsonObject>('parameters').notNull().default(sql`'{}'`),
    /** 1 to 1000; lower runs first. */
    priority: integer('priority').notNull().default(100),
    /** Free JSON for the caller. */
    metadata: jsonText<JsonObject>('metadata').notNull().default(sql`'{}'`),
    /** What the worker answered on completing it; NULL before, or when it answered nothing. */
    result: jsonText<unknown>('result'),
    /** Why the last attempt failed, or why its lease ended. */
    error_message: text('error_message'),
    /** When it was created. */
    created_at: isoTime('created_at').notNull(),
    /** When it last changed. */
    updated_at: isoTime('updated_at'),
    /** When it was last claimed (or set running by hand). */
    started_at: isoTime('started_at'),
    /** When it finished: completed, failed or cancelled. */
    completed_at: isoTime('completed_at'),
    /** Claims so far. */
    attempts: integer('attempts').notNull().default(0),
    /** Claims allowed before it fails for good. */
    max_attempts: integer('max_attempts').notNull().default(DEFAULT_MAX_ATTEMPTS),
    /** Not claimable before this time. */
    run_at: isoTime('run_at').notNull(),
    /** The worker holding the current or last lease. */
    worker_id: text('worker_id'),
    /** Fencing token of the current claim: fresh for every claim, required to settle it. */
    lease_id: text('lease_id'),
    /** When the current lease runs out, while running. */
    lease_expires_at: isoTime('lease_expires_at'),
    /** Unique per type when given: a second create with it returns the first task. */
    idempotency_key: text('idempotency_key'),
    /** 0 to 100: how far the current or last attempt got, as its worker last reported. Cleared by a claim. */
    progress: doublePrecision('progress'),
    /** What the worker said with that progress. */
    progress_message: text('progress_message'),
  },
  (t) => [
    check('task_list_status_check', sql`${t.status} IN ('pending', 'running', 'completed', 'failed', 'cancelled')`),
    ...taskListIndexes(t, index, uniqueIndex),
    // When each type's next pending task comes due (nextClaimableAt, and the waiting claims'
    // check): one probe per type, where PostgreSQL would otherwise read all of a type's backlog.
    index('task_list_pending_due_idx').on(t.task_type_id, t.run_at).where(sql`status = 'pending'`),
  ],
);

/**
 * Every attempt of every task: one row per claim, written and closed by a trigger on task_list
 * (migration 0002) in the transaction of the claim, heartbeat or settlement, whichever path made
 * it. Deleted with its task.
 */
export const taskAttempts = pgTable(
  'task_attempts',
  {
    /** Assigned by the database; orders a task's attempts. */
    id: id('id').primaryKey().generatedByDefaultAsIdentity(),
    /** The task. */
    task_id: id('task_id')
      .notNull()
      .references(() => taskList.id, { onDelete: 'cascade' }),
    /** The task's attempt count when claimed. */
    attempt: integer('attempt').notNull(),
    /** The worker that claimed it. */
    worker_id: text('worker_id'),
    /** The claim's fencing token: how the trigger finds the attempt a change of the task belongs to. */
    lease_id: text('lease_id').notNull(),
    /** When it was claimed. */
    claimed_at: isoTime('claimed_at').notNull(),
    /** Heartbeats during it. */
    heartbeats: integer('heartbeats').notNull().default(0),
    /** The last progress reported (0 to 100). */
    progress: doublePrecision('progress'),
    /** What the worker said with it. */
    progress_message: text('progress_message'),
    /** When it ended. */
    finished_at: isoTime('finished_at'),
    /** completed, failed, lease_expired or cancelled. */
    outcome: text('outcome', { enum: ATTEMPT_OUTCOMES }),
    /** Why it failed. */
    error_message: text('error_message'),
  },
  (t) => [index('task_attempts_task_idx').on(t.task_id, t.lease_id)],
);

/** A transaction id (xid8): what orders the log of changes in commit order (see taskEvents). */
const xid8 = customType<{ data: string; driverData: string }>({ dataType: () => 'xid8' });

/**
 * The log of what happened to tasks, appended by triggers on task_list (migration 0002) in the
 * transaction of every write. Ids come from a sequence, so they are not in commit order when
 * writers overlap; the writing transaction's id (`tx`) is what a reader orders by: every row of a
 * transaction below the oldest one still running is final, so a reader that reads only those,
 * in (tx, id) order, and resumes after the last it saw, misses none (see ./events.ts).
 * Kept for EVENT_RETENTION, whatever becomes of the tasks.
 */
export const taskEvents = pgTable(
  'task_events',
  {
    /** The transaction that wrote it. */
    tx: xid8('tx').notNull().default(sql`pg_current_xact_id()`),
    /** Order within the transaction. */
    id: id('id').notNull().generatedByDefaultAsIdentity(),
    /** The task (not a foreign key: the log outlives deleted tasks). */
    task_id: id('task_id').notNull(),
    /** Its type. */
    task_type_id: id('task_type_id').notNull(),
    /** What happened (see TASK_CHANGE_KINDS). */
    kind: text('kind', { enum: TASK_CHANGE_KINDS }).notNull(),
    /** When. */
    at: isoTime('at').notNull(),
    /** The task's status after it. */
    status: text('status', { enum: TASK_STATUSES }).notNull(),
    /** The task's attempt count after it. */
    attempt: integer('attempt').notNull(),
    /** The worker concerned, if any. */
    worker_id: text('worker_id'),
    /** Reported progress, for `progress`. */
    progress: doublePrecision('progress'),
    /** The progress message, or the error of a failed attempt. */
    message: text('message'),
  },
  (t) => [primaryKey({ columns: [t.tx, t.id] })],
);

/**
 * The stores (server replicas) with readers of the log waiting (live events, waits for a result),
 * each as it last said so: a write that logs changes notifies `prismq_events` only while one is
 * listed, as claim_listeners does for claims.
 */
export const eventListeners = pgTable('event_listeners', {
  /** The store. */
  origin: text('origin').primaryKey(),
  /** When it last said it has readers waiting. */
  seen_at: isoTime('seen_at').notNull(),
});

/**
 * How many tasks each type has in each status, as of the latest fold of task_count_deltas
 * (see ./counts.ts, foldTaskCounts). Not a foreign key: it never blocks a type's row.
 */
export const taskCounts = pgTable(
  'task_counts',
  {
    /** The type. */
    task_type_id: id('task_type_id').notNull(),
    /** The status. */
    status: text('status', { enum: TASK_STATUSES }).notNull(),
    /** Tasks of that type in that status, as of the latest fold. */
    count: bigint('count', { mode: 'number' }).notNull(),
  },
  (t) => [primaryKey({ columns: [t.task_type_id, t.status] })],
);

/**
 * Changes to task_counts not yet folded into it, appended by statement triggers on task_list in
 * the transaction of every insert, status change and delete (migration 0001). Appending takes
 * no row lock, so concurrent writers of one type never wait on one counter row until commit.
 */
export const taskCountDeltas = pgTable('task_count_deltas', {
  /** The type. */
  task_type_id: id('task_type_id').notNull(),
  /** The status. */
  status: text('status', { enum: TASK_STATUSES }).notNull(),
  /** Tasks that entered (positive) or left (negative) that status in one statement. */
  delta: bigint('delta', { mode: 'number' }).notNull(),
});

/**
 * The queue's statistics: per type and minute, the attempts that ended and histograms of queue
 * wait and run time (see ../rules/stats.ts), folded from task_events by foldStats (./stats.ts)
 * and kept for a day. Reading them costs the same at any number of tasks.
 */
export const taskStats = pgTable(
  'task_stats',
  {
    /** The type. */
    task_type_id: id('task_type_id').notNull(),
    /** `YYYY-MM-DDTHH:MM`, UTC. */
    minute: isoTime('minute').notNull(),
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

/** How far foldStats has read task_events, in (tx, id) order: one row. */
export const statsPosition = pgTable('stats_position', {
  /** Always true: the table's one row. */
  only_row: boolean('only_row').primaryKey().default(true),
  /** The transaction of the last change folded. */
  tx: xid8('tx').notNull(),
  /** Its id. */
  id: id('id').notNull(),
});

/** Full-text search of task_list: the text of a task as a tsvector. */
const tsvector = customType<{ data: string; driverData: string }>({ dataType: () => 'tsvector' });

/**
 * What search (`q`) finds tasks by: each task's parameters, metadata, result and error message
 * as words (the 'simple' configuration: no stemming, any language), kept by triggers on
 * task_list (migration 0004) in the transaction of every write that changes them, and nothing
 * else: a claim or a heartbeat does not touch it. A table of its own, so that the GIN index is
 * written only when that text changes, not for every new version of a task's row.
 */
export const taskSearch = pgTable(
  'task_search',
  {
    /** The task. */
    task_id: id('task_id')
      .primaryKey()
      .references(() => taskList.id, { onDelete: 'cascade' }),
    /** Its words (of the first 64 KiB of its text). */
    doc: tsvector('doc').notNull(),
  },
  (t) => [index('task_search_doc_idx').using('gin', t.doc)],
);

/** API tokens: only a hash of each secret is kept. */
export const apiTokens = pgTable('api_tokens', {
  /** Assigned by the database; part of the token. */
  id: id('id').primaryKey().generatedByDefaultAsIdentity(),
  /** Unique. */
  name: text('name').notNull().unique(),
  /** What it may do, a JSON array of scopes. */
  scopes: jsonText<TokenScope[]>('scopes').notNull(),
  /** SHA-256 of the secret part, hex. */
  secret_hash: text('secret_hash').notNull(),
  /** When it was created. */
  created_at: isoTime('created_at').notNull(),
  /** When it was revoked, if it was. */
  revoked_at: isoTime('revoked_at'),
  /** When it was last used, to the minute. */
  last_used_at: isoTime('last_used_at'),
});

/**
 * Empty but for a moment: the store's health check, after a write failed for storage (a full
 * disk), writes a row here and deletes it in the same transaction, to learn whether the database
 * can grow again (see ./storage.ts).
 */
export const storageProbe = pgTable('storage_probe', {
  /** Assigned by the database. */
  id: id('id').primaryKey().generatedByDefaultAsIdentity(),
  /** Incompressible bytes, enough to need new space. */
  filler: bytea('filler'),
});

// The rows the store reads must be exactly the domain types of ../types.ts.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const rowTypesMatch: [Same<typeof taskTypes.$inferSelect, TaskType>, Same<typeof taskList.$inferSelect, Task>] = [true, true];
void rowTypesMatch;

/**
 * The stores (server replicas) with claims waiting, each as it last said so: writes that make
 * tasks claimable send their notification only while one is listed (see ./notify.ts), since a
 * NOTIFY makes commits wait for each other. A store lists itself when its first claim starts to
 * wait and says so again every few seconds while claims wait; a row not renewed for a minute is
 * gone (a store that stopped without removing it).
 */
export const claimListeners = pgTable('claim_listeners', {
  /** The store, as its notifications name it. */
  origin: text('origin').primaryKey(),
  /** When it last said it has claims waiting. */
  seen_at: isoTime('seen_at').notNull(),
});
