/** The domain's records, as the API shows them. Plain types, so that clients can use them. */

/** A JSON object as stored in a TEXT column. */
export type JsonObject = Record<string, unknown>;

export const TASK_STATUSES = ['pending', 'running', 'completed', 'failed', 'cancelled'] as const;
export type TaskStatus = (typeof TASK_STATUSES)[number];

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
}
