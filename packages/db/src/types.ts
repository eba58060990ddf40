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
