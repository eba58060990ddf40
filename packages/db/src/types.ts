/** The domain's records, as the API shows them. Plain types, so that clients can use them. */

/** A JSON object as stored in a TEXT column. */
export type JsonObject = Record<string, unknown>;

export const TASK_STATUSES = ['pending', 'running', 'completed', 'failed', 'cancelled'] as const;
export type TaskStatus = (typeof TASK_STATUSES)[number];

/** Tries per task unless its type or the task says otherwise. */
export const DEFAULT_MAX_ATTEMPTS = 3;
/** Backoff after a failed attempt: about base × 2^(attempt-1) seconds, with jitter, at most the cap. */
export const DEFAULT_RETRY_BASE_SECONDS = 5;
export const DEFAULT_RETRY_MAX_SECONDS = 3600;

export interface TaskType {
  id: number;
  name: string;
  description: string | null;
  /** JSON Schema of the parameters of tasks of this type. */
  parameters_schema: JsonObject;
  metadata: JsonObject;
  is_active: boolean;
  created_at: string;
  updated_at: string | null;
  /** Default `max_attempts` of this type's tasks. */
  max_attempts: number;
  /** Delay before the first retry (before jitter), in seconds; doubles with each further attempt. */
  retry_base_seconds: number;
  /** The longest delay between attempts, in seconds. */
  retry_max_seconds: number;
}

export interface Task {
  id: number;
  task_type_id: number;
  status: TaskStatus;
  parameters: JsonObject;
  /** 1 to 1000; lower runs first. */
  priority: number;
  metadata: JsonObject;
  result: unknown;
  error_message: string | null;
  created_at: string;
  updated_at: string | null;
  started_at: string | null;
  completed_at: string | null;
  /** Claims so far. */
  attempts: number;
  max_attempts: number;
  /** Not claimable before this time. */
  run_at: string;
  /** The worker holding the current or last lease. */
  worker_id: string | null;
  /** Fencing token of the current or last claim. */
  lease_id: string | null;
  lease_expires_at: string | null;
  idempotency_key: string | null;
  /** How far the current or last attempt got, 0 to 100, as its worker last reported in a heartbeat. */
  progress: number | null;
  /** What the current or last attempt's worker last said it was doing, with its progress. */
  progress_message: string | null;
}

/** How an attempt ended. */
export const ATTEMPT_OUTCOMES = ['completed', 'failed', 'lease_expired', 'cancelled'] as const;
export type AttemptOutcome = (typeof ATTEMPT_OUTCOMES)[number];

/** One claim of a task and what became of it: a task's history is its attempts, oldest first. */
export interface TaskAttempt {
  /** The task. */
  task_id: number;
  /** The task's attempt count when claimed: 1 for the first; counts again from 1 after an operator's retry. */
  attempt: number;
  /** The worker that claimed it. */
  worker_id: string | null;
  /** The fencing token of the claim. */
  lease_id: string;
  claimed_at: string;
  /** Heartbeats the worker sent during it. */
  heartbeats: number;
  /** The last progress its worker reported (0 to 100), and what it said with it. */
  progress: number | null;
  progress_message: string | null;
  /** When it ended; null while it runs. */
  finished_at: string | null;
  /** How it ended; null while it runs. */
  outcome: AttemptOutcome | null;
  /** Why it failed, when it failed or its lease expired. */
  error_message: string | null;
}

/**
 * What can happen to a task, as its events say: `failed` is an attempt that failed, whether the
 * task will be retried (status `pending`) or not (`failed`); `retried` is an operator putting a
 * failed or cancelled task back to pending; `updated`, a change of status by hand (PUT) that is
 * none of the others.
 */
export const TASK_CHANGE_KINDS = ['created', 'claimed', 'progress', 'completed', 'failed', 'lease_expired', 'cancelled', 'retried', 'updated', 'deleted'] as const;
export type TaskChangeKind = (typeof TASK_CHANGE_KINDS)[number];

/** Something that happened to a task, as the log of changes (table task_events) keeps it, in commit order. */
export interface TaskChange {
  /** Where it is in the log: opaque, ordered; a reader resumes after the last one it saw. */
  id: string;
  task_id: number;
  task_type_id: number;
  kind: TaskChangeKind;
  /** When, by the clock of the server that wrote it. */
  at: string;
  /** The task's status after it (its last status, for `deleted`). */
  status: TaskStatus;
  /** The task's attempt count after it. */
  attempt: number;
  /** The worker, for changes made by or to an attempt. */
  worker_id: string | null;
  /** For `progress`: what the worker reported. */
  progress: number | null;
  /** For `progress`, the worker's message; for `failed` and `lease_expired`, the error. */
  message: string | null;
}

/**
 * What a token may do. `read`: read task types and tasks. `producer`: also create, update,
 * cancel and retry tasks. `worker`: also claim, heartbeat, complete and fail tasks. `admin`:
 * everything, including task types, deletes and tokens.
 */
export const TOKEN_SCOPES = ['admin', 'producer', 'worker', 'read'] as const;
export type TokenScope = (typeof TOKEN_SCOPES)[number];

/** A token as listed: never its secret. */
export interface ApiToken {
  id: number;
  name: string;
  scopes: TokenScope[];
  created_at: string;
  revoked_at: string | null;
  last_used_at: string | null;
}
