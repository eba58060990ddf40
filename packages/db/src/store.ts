import type { DomainError } from './errors.js';
import type { ApiToken, JsonObject, Task, TaskStatus, TaskType, TokenScope } from './types.js';

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

export interface TaskFilter {
  task_type_id?: number | undefined;
  status?: TaskStatus | undefined;
  limit: number;
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
export interface TaskStore extends TaskTypeStore, TaskRecordStore, QueueStore, TokenStore, ClaimSignals, StoreHealth {}

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
   * Newest first: `created_at` descending, then `id` descending; at most `limit` tasks, and a page
   * stops before the task that would take it past MAX_LIST_BYTES of stored JSON (see rules/limits.ts).
   */
  listTasks(filter: TaskFilter): Promise<Task[]>;
  getTask(id: number): Promise<Task>;
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
  /** Extends a held lease. LeaseLostError when the caller no longer holds it. */
  heartbeatTask(id: number, lease: Lease, leaseSeconds: number): Promise<Task>;
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
