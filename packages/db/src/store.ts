import type { DomainError } from './errors.js';
import type { ApiToken, JsonObject, Task, TaskAttempt, TaskStatus, TaskType, TokenScope } from './types.js';
import type { TaskSort } from './rules/pages.js';
import type { TaskChange } from './types.js';
import type { Stats } from './rules/stats.js';

export type { TaskSort };

/** How a type's failed tasks are retried. */
export interface RetryPolicy {
  max_attempts?: number | undefined;
  retry_base_seconds?: number | undefined;
  retry_max_seconds?: number | undefined;
}

export interface TaskTypeCreate extends RetryPolicy {
  name: string;
  description?: string | null | undefined;
  parameters_schema?: JsonObject | undefined;
  metadata?: JsonObject | undefined;
}

/** What a declaration did: the type as it now is, and whether it was registered by it. */
export interface DeclaredTaskType {
  type: TaskType;
  created: boolean;
}

export interface TaskTypeUpdate extends RetryPolicy {
  description?: string | null | undefined;
  parameters_schema?: JsonObject | undefined;
  metadata?: JsonObject | undefined;
  is_active?: boolean | undefined;
}

export interface TaskTypeFilter {
  include_inactive?: boolean | undefined;
}

export interface TaskCreate {
  task_type_id: number;
  parameters?: JsonObject | undefined;
  priority?: number | undefined;
  metadata?: JsonObject | undefined;
  /** Not claimable before this time (ISO 8601). */
  run_at?: string | undefined;
  /** Not claimable for this many seconds; the alternative to `run_at`. */
  delay_seconds?: number | undefined;
  /** Defaults to the type's `max_attempts`. */
  max_attempts?: number | undefined;
  /** A second create with the same key for the same type returns the first task. */
  idempotency_key?: string | undefined;
}

export interface CreatedTask {
  task: Task;
  /** False when an earlier task with the same idempotency key was returned instead. */
  created: boolean;
}

export interface ClaimRequest {
  worker_id: string;
  /** Only these types (by id); with `task_types`, either list matches. All active types when both are absent. */
  task_type_ids?: number[] | undefined;
  /** Only these types (by name). */
  task_types?: string[] | undefined;
  limit: number;
  lease_seconds: number;
}

export type ClaimFilter = Pick<ClaimRequest, 'task_type_ids' | 'task_types'>;

/** A finished attempt, reported in an exchange (see QueueStore.exchange) by the worker holding its lease. */
export type Settlement =
  | { task_id: number; lease_id: string; outcome: 'completed'; result?: unknown }
  | { task_id: number; lease_id: string; outcome: 'failed'; error_message: string; retry: boolean };

export interface ExchangeRequest extends ClaimRequest {
  /** Settled in order, each on its own: one that is refused does not stop the others. */
  settle: Settlement[];
}

/**
 * What became of one settlement: the task's status after it (`completed`; `pending` for a retry
 * after its backoff; `failed`), or why it was refused (NotFoundError, LeaseLostError).
 */
export type SettleOutcome = { task_id: number; task_type_id: number; status: TaskStatus } | { task_id: number; error: DomainError };

export interface Exchanged {
  /** One per settlement, in the order given. */
  settled: SettleOutcome[];
  /** The tasks claimed, as claimTasks returns them. */
  tasks: Task[];
}

/** How the store answers a claim waiting for work: see TaskStore.waitToClaim. */
export interface WaitingClaim {
  claimed(tasks: Task[]): void;
  woken(): void;
}

/** Something that happened to tasks of one type, for metrics. */
export interface TaskEvent {
  kind: 'created' | 'claimed' | 'completed' | 'failed' | 'retried' | 'cancelled' | 'lease_expired';
  task_type_id: number;
  count: number;
}

/** How many tasks there are of each type (by name) in each status. */
export interface TaskCount {
  task_type: string;
  status: TaskStatus;
  count: number;
}

/**
 * What a worker reports with a heartbeat: how far its attempt got, 0 to 100, and what it is doing
 * (at most 1000 characters; see rules/progress.ts). A message comes with a progress, never alone,
 * so that it never stands beside a number from an earlier step.
 */
export interface ProgressReport {
  progress: number;
  message?: string | undefined;
}

/** Proof of holding a task's lease: the worker and the fencing token of its claim. */
export interface Lease {
  worker_id: string;
  lease_id: string;
}

export interface TaskUpdate {
  status?: TaskStatus | undefined;
  priority?: number | undefined;
  parameters?: JsonObject | undefined;
  metadata?: JsonObject | undefined;
  result?: unknown;
  error_message?: string | null | undefined;
}

/**
 * Which tasks a list or a bulk action takes: every condition given must hold. Time ranges are
 * ISO 8601 times: `…_after` at or after it, `…_before` strictly before it.
 */
export interface TaskMatch {
  task_type_id?: number | undefined;
  /** The type by name. */
  task_type?: string | undefined;
  /** In this status, or in any of these. */
  status?: TaskStatus | readonly TaskStatus[] | undefined;
  priority_min?: number | undefined;
  priority_max?: number | undefined;
  created_after?: string | undefined;
  created_before?: string | undefined;
  updated_after?: string | undefined;
  updated_before?: string | undefined;
  /** When it finished (`completed_at`): completed, failed or cancelled. */
  finished_after?: string | undefined;
  finished_before?: string | undefined;
  run_at_after?: string | undefined;
  run_at_before?: string | undefined;
  /** The worker of the current or last claim. */
  worker_id?: string | undefined;
  idempotency_key?: string | undefined;
  /**
   * A field of the metadata, given with metadata_value: it matches when it holds a string equal
   * to it, or a number or boolean written so (`42`, `true`).
   */
  metadata_key?: string | undefined;
  metadata_value?: string | undefined;
  /**
   * Search: tasks whose parameters, metadata, result or error message hold every word of it
   * (see rules/search.ts). A list with it comes in id order (newest: the highest first), so
   * only the `newest` and `oldest` sorts go with it.
   */
  q?: string | undefined;
}

/** A page of the task list: which tasks, in which order, from where (see TaskRecordStore.listTaskPage). */
export interface TaskFilter extends TaskMatch {
  limit: number;
  /** Default `newest`. */
  sort?: TaskSort | undefined;
  /** The `next_cursor` of the page before, in the same sort; absent for the first page. */
  cursor?: string | undefined;
}

export interface TaskPage {
  items: Task[];
  /** Where the next page starts (an opaque cursor), or null when no task follows this page. */
  next_cursor: string | null;
}

/**
 * The tasks a bulk action takes: those of `ids`, those matching `filter` (which must have a
 * condition), or those of `ids` that match `filter`; at most `limit` of them.
 */
export interface TaskSelection {
  /** 1 to 1000 ids. */
  ids?: readonly number[] | undefined;
  filter?: TaskMatch | undefined;
  /** 1 to 1000. */
  limit: number;
}

export interface BulkResult {
  /** How many tasks the action changed (or deleted). */
  changed: number;
  /** Whether more tasks matched than `limit`: another call would take them. */
  more: boolean;
}

/** Whether the store can serve reads and writes now, and if not, why: see TaskStore.health. */
export interface Health {
  ok: boolean;
  /** Why not, naming the cause (the disk full, the file gone, …), when not ok. */
  detail?: string;
}

/** What could not be done on close; the connection is closed either way. */
export interface CloseResult {
  /** Why the writes still queued could not be committed, if they could not: each was rejected with it, none acknowledged. */
  flushError?: unknown;
  /**
   * Why the WAL could not be checkpointed into the database file, if it could not (the disk is
   * full): nothing is lost, the WAL is replayed into the database when it is next opened.
   */
  checkpointError?: unknown;
}

/**
 * Everything the API does to its data, named for what it means, in focused parts: task types,
 * task records, the queue, tokens, claim signals and the store's own health. Every method is
 * async so that an engine with a network round trip (PostgreSQL) can implement it; each one is a
 * single transaction. Errors (see ./errors.ts): a missing row raises NotFoundError; a name that
 * is taken, a lease no longer held (LeaseLostError) and a move from a status that does not allow
 * it (cancel, retry) raise ConflictError; a task for an inactive type raises InvalidStateError;
 * input that breaks a rule raises ValidationError. The storage failing (a full disk, an I/O
 * error, the database gone) raises StorageError, and nothing is acknowledged that is not durable.
 */
export interface TaskStore extends TaskTypeStore, TaskRecordStore, QueueStore, StatsStore, TokenStore, ClaimSignals, ChangeLog, StoreHealth {}

/** The registry of task types. */
export interface TaskTypeStore {
  createTaskType(input: TaskTypeCreate): Promise<TaskType>;
  /** Ordered by name; inactive types only when asked for. */
  listTaskTypes(filter: TaskTypeFilter): Promise<TaskType[]>;
  getTaskType(id: number): Promise<TaskType>;
  /** The type of that name, active or not (NotFoundError when there is none). */
  getTaskTypeByName(name: string): Promise<TaskType>;
  /**
   * Registers the type under its name, or brings the type of that name in line with the fields
   * given (see rules/declare.ts): idempotent, so a service may declare its types at every start.
   */
  declareTaskType(input: TaskTypeCreate): Promise<DeclaredTaskType>;
  /** Partial update: absent fields keep their value; `updated_at` is always set. */
  updateTaskType(id: number, patch: TaskTypeUpdate): Promise<TaskType>;
  /** Soft delete: the type stays, marked inactive, and takes no new tasks. */
  deactivateTaskType(id: number): Promise<void>;
}

/** Tasks as records: create, read, update, delete, and what retention and metrics need. */
export interface TaskRecordStore {
  /**
   * Creates a pending task; the type must exist (NotFoundError) and be active (InvalidStateError),
   * and the parameters must fit its schema (ValidationError). With an idempotency key already used
   * for the type, returns that task instead (`created: false`).
   */
  createTask(input: TaskCreate): Promise<CreatedTask>;
  /** Creates all the tasks in one transaction, or none; problems are reported under `tasks.<index>`. */
  createTasks(inputs: TaskCreate[]): Promise<Task[]>;
  /**
   * The tasks of listTaskPage's page, without its cursor. Newest first unless sorted otherwise:
   * `created_at` descending, then `id` descending; at most `limit` tasks, and a page stops before
   * the task that would take it past MAX_LIST_BYTES of stored JSON (see rules/limits.ts).
   */
  listTasks(filter: TaskFilter): Promise<Task[]>;
  /**
   * A page of the task list: the tasks matching the filter, in its sort (newest first by
   * default), from its cursor on; at most `limit` and MAX_LIST_BYTES of them, as listTasks. Pages
   * are keyset pages: walking them from the first while tasks are created and deleted lists every
   * task that exists throughout exactly once (whose sort key, priority or run_at for those sorts,
   * does not change meanwhile). A cursor that no page gave, or one of another sort, is a
   * ValidationError at `cursor`.
   */
  listTaskPage(filter: TaskFilter): Promise<TaskPage>;
  getTask(id: number): Promise<Task>;
  /**
   * The task's attempts, oldest first: one per claim since it was created, each with its worker,
   * heartbeats, last progress and how it ended (open while it runs). An operator's retry starts
   * counting `attempt` from 1 again; the earlier attempts stay. They are deleted with the task
   * (retention included). NotFoundError when the task does not exist.
   */
  listAttempts(taskId: number): Promise<TaskAttempt[]>;
  /**
   * Partial update; `updated_at` is always set. Moving to `running` sets `started_at`;
   * moving to `completed`, `failed` or `cancelled` sets `completed_at`.
   */
  updateTask(id: number, patch: TaskUpdate): Promise<Task>;
  /** Permanent delete. */
  deleteTask(id: number): Promise<void>;
  /** Deletes up to `limit` finished tasks that finished before `before`; returns how many. */
  deleteFinishedTasks(before: string, limit: number): Promise<number>;
  /** Tasks per type and status (the queue depth), without counting rows: cheap at any size. */
  countTasks(): Promise<TaskCount[]>;
}

/** The queue protocol: leases, settling, cancel and retry. */
export interface QueueStore {
  /**
   * Atomically leases up to `limit` claimable tasks to a worker: pending ones whose `run_at` has
   * come and running ones whose lease expired with attempts left, of active types, by priority,
   * then `run_at`, then id. No task is ever leased to two workers at once.
   */
  claimTasks(request: ClaimRequest): Promise<Task[]>;
  /**
   * A worker's turn in one transaction: settles the attempts it finished (each as completeTask or
   * failTask would, a refused one reported in its outcome rather than thrown), then claims up to
   * `limit` tasks (none for 0) as claimTasks does. What it settles is committed with what it
   * claims: one request and one commit where a claim and a settle per task took several.
   */
  exchange(request: ExchangeRequest): Promise<Exchanged>;
  /** When the next task matching the filter becomes claimable by time (a `run_at` or a lease expiry), if any. */
  nextClaimableAt(filter: ClaimFilter): Promise<string | null>;
  /**
   * Extends a held lease, for `leaseSeconds` from now. LeaseLostError when the caller no longer
   * holds it. With a `report`, the task's progress and message become the report's in the same
   * write (a report without a message clears the message); without one they stay as they were.
   * The attempt records them too (see listAttempts). A report that breaks the rules of
   * rules/progress.ts is a ValidationError.
   */
  heartbeatTask(id: number, lease: Lease, leaseSeconds: number, report?: ProgressReport): Promise<Task>;
  /** Settles a held lease as completed. */
  completeTask(id: number, lease: Lease, result: unknown): Promise<Task>;
  /**
   * Settles a held lease as failed: back to pending after a backoff while attempts remain and
   * `retry` is true, else `failed`.
   */
  failTask(id: number, lease: Lease, errorMessage: string, retry: boolean): Promise<Task>;
  /** Cancels a pending or running task (ConflictError otherwise); its worker loses the lease. */
  cancelTask(id: number): Promise<Task>;
  /** Puts a failed or cancelled task back to pending with its attempts reset (ConflictError otherwise). */
  retryTask(id: number): Promise<Task>;
  /**
   * Bulk retryTask: puts the selected tasks that are failed or cancelled back to pending, with
   * their attempts reset, in one transaction; the others are left alone. A selection without ids
   * or a condition is a ValidationError, so that no call takes every task by accident.
   */
  retryTasks(selection: TaskSelection): Promise<BulkResult>;
  /** Bulk cancelTask: cancels the selected tasks that are pending or running, in one transaction; their workers lose their leases. */
  cancelTasks(selection: TaskSelection): Promise<BulkResult>;
  /** Bulk deleteTask: deletes the selected tasks, in any status, in one transaction. */
  deleteTasks(selection: TaskSelection): Promise<BulkResult>;
  /**
   * Tidies expired leases: tasks with attempts left go back to pending, the rest become failed.
   * Claiming does not depend on it having run. Returns how many tasks changed.
   */
  sweepExpiredLeases(): Promise<number>;
}

/** How claims learn that tasks may have become claimable, and how metrics learn what happened. */
export interface ClaimSignals {
  /**
   * Waits to claim for `request` (a long poll), until the store calls one of `waiting`'s
   * callbacks, once: `claimed` with tasks it leased to this request in the very transaction of a
   * write that made them claimable (a create, a retry, a type switched back on), once committed,
   * oldest waiter first; or `woken` when tasks may have become claimable that were not offered
   * this way (a lease expired, a retry's backoff, a commit by another process sharing the
   * database, an error), so that it claims again. A write whose new tasks were offered wakes no
   * waiter that was already waiting. The function returned stops the wait. A claim that is not
   * yet waiting learns of new tasks through onTasksAvailable; tasks that come due by time
   * (`run_at`, a lease's expiry) through no event: see nextClaimableAt.
   */
  waitToClaim(request: ClaimRequest, waiting: WaitingClaim): () => void;
  /** Calls the listener whenever tasks may have become claimable (created, released, retried, or changed by another process). */
  onTasksAvailable(listener: () => void): () => void;
  /** Calls the listener for everything that happens to tasks through the queue protocol. */
  onTaskEvent(listener: (event: TaskEvent) => void): () => void;
}

/**
 * The log of what happened to tasks (TaskChange: created, claimed, progress, completed, …),
 * written by the database in the transaction of every write to a task, whichever path made it,
 * and read in commit order by live events and waits for results. A change's `id` is its position
 * in the log: opaque text, in a format of the engine's own.
 */
export interface ChangeLog {
  /**
   * The position of the newest change that can be read now (or the start of an empty log):
   * reading after it gives exactly the changes committed from then on.
   */
  changesHead(): Promise<string>;
  /**
   * Up to `limit` changes after position `after`, in commit order. A reader that resumes after
   * the last change it read misses none, even when writers commit out of order (PostgreSQL: a
   * change is readable once every transaction that could come before it has ended). A position
   * that is not of this engine's format is a ValidationError at `after`; one whose change is no
   * longer kept (see deleteChangesBefore) or never was, a ChangesExpiredError.
   */
  readChanges(after: string, limit: number): Promise<TaskChange[]>;
  /** Orders two positions (as Array.prototype.sort wants), both of this engine's format. */
  compareChangeIds(a: string, b: string): number;
  /**
   * Calls the listener when the log may have grown: at once after a commit of this store, and
   * soon after one of another process sharing the database (SQLite: a look every 100 ms;
   * PostgreSQL: a notification, sent only while some store has listeners). A hint, which may be
   * lost (a notification dropped with its connection): readers also read on a timer of their own.
   */
  onChanges(listener: () => void): () => void;
  /**
   * Retention: deletes, oldest first, up to `limit` changes written before `before` (ISO 8601),
   * and stops at the first newer one, so that what is kept is always the end of the log; the
   * newest change is always kept, so that a reader that read it can resume after it. Returns
   * how many were deleted.
   */
  deleteChangesBefore(before: string, limit: number): Promise<number>;
}

/** API tokens: only their hashes are kept. */
export interface TokenStore {
  /** Creates an API token; the returned `token` is shown once and only its hash is kept. */
  createToken(name: string, scopes: TokenScope[]): Promise<{ token: string; record: ApiToken }>;
  listTokens(): Promise<ApiToken[]>;
  /** Revokes a token by name or id (NotFoundError if there is none). */
  revokeToken(nameOrId: string): Promise<ApiToken>;
  /**
   * Whether any token was ever created, revoked ones included: from then on a loopback server in
   * `auto` mode requires one, so that revoking tokens never opens the API.
   */
  hasTokens(): Promise<boolean>;
  /** The live token a presented secret proves, or undefined. */
  verifyToken(token: string): Promise<ApiToken | undefined>;
}

/**
 * The queue's statistics, from rollups that foldStats keeps from the log of task changes (see
 * rules/stats.ts): cheap to read at any number of tasks.
 */
export interface StatsStore {
  /** Counts, each type's oldest pending task, throughput and percentiles as of now, after folding what the log holds. */
  stats(): Promise<Stats>;
  /**
   * Folds the next changes of the log into the rollups (one replica at a time on a shared
   * database); returns how many it read. Run every few seconds, so that stats() has little to fold.
   */
  foldStats(): Promise<number>;
}

/** The store's own state: readiness and closing. */
export interface StoreHealth {
  /** True when the database answers and its migrations are applied. */
  ping(): Promise<boolean>;
  /**
   * Whether the store can serve, for a readiness probe. Not ok when `ping` fails, when the
   * database file was deleted or replaced under the running store, and after a write failed for
   * storage (StorageError: the disk full, an I/O error) until a write commits again. In that last
   * state each call runs a small write that needs a new page, so that health comes back by itself
   * once the cause is removed, with no other traffic. Never throws.
   */
  health(): Promise<Health>;
  /**
   * Commits the writes still queued, checkpoints the WAL into the database file and closes.
   * Failures are reported, not thrown: the connection is closed in any case.
   */
  close(): Promise<CloseResult>;
}
