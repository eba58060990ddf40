/**
 * Option parsers (a bad value is a usage error: exit 2, before any call) and the task filter
 * options shared by `tasks list` and the bulk modes of `tasks retry|cancel|delete`.
 */
import { InvalidArgumentError, type Command } from 'commander';
import type { RouterInputs, TaskChange, TaskStatus } from '@prismq/client';

export const TASK_STATUSES = ['pending', 'running', 'completed', 'failed', 'cancelled'] as const satisfies readonly TaskStatus[];
export const CHANGE_KINDS = [
  'created',
  'claimed',
  'progress',
  'completed',
  'failed',
  'lease_expired',
  'cancelled',
  'retried',
  'updated',
  'deleted',
] as const satisfies readonly TaskChange['kind'][];
export const SORTS = ['newest', 'oldest', 'priority', 'run_at'] as const;

// Every status and kind the API knows is listed (a new one fails the type check here).
type Missing<All, Listed> = [Exclude<All, Listed>] extends [never] ? true : Exclude<All, Listed>;
const allStatuses: Missing<TaskStatus, (typeof TASK_STATUSES)[number]> = true;
const allKinds: Missing<TaskChange['kind'], (typeof CHANGE_KINDS)[number]> = true;
void allStatuses;
void allKinds;

/** A whole number from `min` to `max`, in plain decimal. */
export function wholeNumber(min: number, max = Number.MAX_SAFE_INTEGER) {
  return (value: string): number => {
    if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max) {
      throw new InvalidArgumentError(max === Number.MAX_SAFE_INTEGER ? `must be a whole number from ${min}` : `must be a whole number from ${min} to ${max}`);
    }
    return Number(value);
  };
}

export const taskId = wholeNumber(1);

/** A number of seconds, fractions allowed. */
export function seconds(value: string): number {
  const number = Number(value);
  if (value.trim() === '' || !Number.isFinite(number) || number < 0) throw new InvalidArgumentError('must be a number of seconds, 0 or more');
  return number;
}

/** A time: ISO 8601 (`2025-11-06T22:00:00Z`, or a date, `2025-11-06`, midnight UTC), sent in UTC. */
export function isoTime(value: string): string {
  const time = Date.parse(value);
  if (Number.isNaN(time)) throw new InvalidArgumentError('must be an ISO 8601 time, e.g. 2025-11-06T22:00:00Z');
  return new Date(time).toISOString();
}

/** A repeatable option whose values may also be comma lists, each one of `allowed`. */
export function listOf<T extends string>(allowed: readonly T[]) {
  return (value: string, previous: T[] | undefined): T[] => {
    const items = value.split(',').map((item) => item.trim()).filter(Boolean);
    for (const item of items) {
      if (!(allowed as readonly string[]).includes(item)) throw new InvalidArgumentError(`'${item}' is not one of: ${allowed.join(', ')}`);
    }
    return [...(previous ?? []), ...(items as T[])];
  };
}

/** A repeatable option of free values, also as comma lists. */
export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), ...value.split(',').map((item) => item.trim()).filter(Boolean)];
}

/** `key=value`, split at the first `=`. */
export function keyValue(value: string): { key: string; value: string } {
  const at = value.indexOf('=');
  if (at <= 0) throw new InvalidArgumentError('must be key=value');
  return { key: value.slice(0, at), value: value.slice(at + 1) };
}

/** A task type as the user names it: all digits is an id, anything else a name. */
export function typeRef(value: string): { id: number } | { name: string } {
  return /^\d+$/.test(value) ? { id: Number(value) } : { name: value };
}

export interface FilterOptions {
  status?: TaskStatus[];
  type?: string;
  priorityMin?: number;
  priorityMax?: number;
  createdAfter?: string;
  createdBefore?: string;
  updatedAfter?: string;
  updatedBefore?: string;
  finishedAfter?: string;
  finishedBefore?: string;
  runAtAfter?: string;
  runAtBefore?: string;
  worker?: string;
  idempotencyKey?: string;
  metadata?: { key: string; value: string };
  search?: string;
}

/** The filter options, on `tasks list` and on the bulk modes. */
export function addFilterOptions(command: Command): Command {
  return command
    .option('-s, --status <status>', `only tasks in this status (${TASK_STATUSES.join(', ')}); repeat it or give a comma list`, listOf(TASK_STATUSES))
    .option('-t, --type <type>', 'only tasks of this type (its name, or its id)')
    .option('--priority-min <n>', 'only tasks of this priority number or higher (1-1000)', wholeNumber(1, 1000))
    .option('--priority-max <n>', 'only tasks of this priority number or lower (1-1000)', wholeNumber(1, 1000))
    .option('--created-after <time>', 'only tasks created at or after this ISO time', isoTime)
    .option('--created-before <time>', 'only tasks created before this ISO time', isoTime)
    .option('--updated-after <time>', 'only tasks last changed at or after this ISO time', isoTime)
    .option('--updated-before <time>', 'only tasks last changed before this ISO time', isoTime)
    .option('--finished-after <time>', 'only tasks that finished at or after this ISO time', isoTime)
    .option('--finished-before <time>', 'only tasks that finished before this ISO time', isoTime)
    .option('--run-at-after <time>', 'only tasks due (run_at) at or after this ISO time', isoTime)
    .option('--run-at-before <time>', 'only tasks due (run_at) before this ISO time', isoTime)
    .option('-w, --worker <worker-id>', 'only tasks whose current or last claim was by this worker')
    .option('--idempotency-key <key>', 'only the task with this idempotency key')
    .option('--metadata <key=value>', 'only tasks whose metadata field <key> holds <value> (a string, or a number or boolean written so)', keyValue)
    .option('-q, --search <words>', 'only tasks whose parameters, metadata, result or error hold every word');
}

export type TaskFilter = NonNullable<RouterInputs['tasks']['bulkRetry']['filter']>;

/** The API's filter fields for the filter options given (empty when none is). */
export function taskFilter(options: FilterOptions): TaskFilter {
  const type = options.type === undefined ? undefined : typeRef(options.type);
  const filter: TaskFilter = {
    ...(type && 'id' in type ? { task_type_id: type.id } : {}),
    ...(type && 'name' in type ? { task_type: type.name } : {}),
    status: options.status,
    priority_min: options.priorityMin,
    priority_max: options.priorityMax,
    created_after: options.createdAfter,
    created_before: options.createdBefore,
    updated_after: options.updatedAfter,
    updated_before: options.updatedBefore,
    finished_after: options.finishedAfter,
    finished_before: options.finishedBefore,
    run_at_after: options.runAtAfter,
    run_at_before: options.runAtBefore,
    worker_id: options.worker,
    idempotency_key: options.idempotencyKey,
    metadata_key: options.metadata?.key,
    metadata_value: options.metadata?.value,
    q: options.search,
  };
  return Object.fromEntries(Object.entries(filter).filter(([, value]) => value !== undefined)) as TaskFilter;
}
