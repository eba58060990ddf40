/**
 * The wire format: every body, query and response of the API, REST and tRPC alike.
 * These zod schemas validate input, check output, generate the OpenAPI document and give the
 * typed client its types; there is no second copy anywhere.
 */
import { ATTEMPT_OUTCOMES, TASK_STATUSES, rules } from '@prismq/db';
import { z } from 'zod';
import { TASK_CHANGE_KINDS } from '@prismq/db';

// A field that is absent reads "Field required", as the original service (FastAPI) said it.
export const FIELD_REQUIRED = 'Field required';
z.config({
  customError: (issue) => (issue.code === 'invalid_type' && issue.input === undefined ? FIELD_REQUIRED : undefined),
});

/**
 * trpc-to-openapi switches on coercion, by mutating the schema, for every top-level number or
 * boolean field of a REST input, body fields included: "5" would pass for 5 and "false" for true,
 * and tRPC calls would inherit that after the first REST call. It leaves pipes alone, so JSON body
 * fields are wrapped in one and keep JSON's own types.
 */
const exact = <T extends z.ZodType>(schema: T) => schema.transform((value) => value);

/** Whole numbers as a URL writes them: plain decimal digits, no sign, exponent, fraction or leading zero. */
const DECIMAL = /^(0|[1-9][0-9]{0,15})$/;

/**
 * A whole number in a path or query parameter (text in a URL, a number over tRPC): plain decimal
 * or 422, so that `0x10`, `+16`, `16.0`, `016` and `1e1` name nothing.
 */
const urlWhole = (message: string, range: { minimum: number; maximum?: number; default?: number }) =>
  z
    .union([z.int(), z.string().regex(DECIMAL).transform(Number)], {
      error: (issue) => (issue.input === undefined ? FIELD_REQUIRED : message),
    })
    .pipe(
      z
        .int(message)
        .min(range.minimum, message)
        .max(range.maximum ?? Number.MAX_SAFE_INTEGER, message),
    )
    // Documented as what it accepts: an integer (in a URL, written in decimal).
    .meta({
      override: ({ jsonSchema }) => {
        for (const key of Object.keys(jsonSchema)) if (key !== 'description') delete jsonSchema[key as keyof typeof jsonSchema];
        Object.assign(jsonSchema, { type: 'integer', ...range });
      },
    });

/** A path or query id. */
const urlInt = () => urlWhole('must be a positive integer in plain decimal', { minimum: 1 });

/** A boolean query parameter: accepts true/false, 1/0, yes/no, on/off in a URL, a boolean over tRPC. */
const urlBoolean = () =>
  z.preprocess(
    (value) => (typeof value === 'string' ? z.stringbool().safeParse(value.toLowerCase()).data ?? value : value),
    z.boolean(),
  );

/** The largest JSON field (parameters, metadata, result, parameters_schema), serialised. */
export const MAX_JSON_FIELD_BYTES = 256 * 1024;
const fitsJsonLimit = (value: unknown) => value === undefined || Buffer.byteLength(JSON.stringify(value) ?? '') <= MAX_JSON_FIELD_BYTES;
const JSON_TOO_LARGE = `must be at most ${MAX_JSON_FIELD_BYTES / 1024} KiB as JSON`;

const JsonObject = z
  .record(z.string(), z.unknown())
  .refine(fitsJsonLimit, JSON_TOO_LARGE)
  .meta({ description: 'A JSON object.', additionalProperties: true });

const IsoTime = z.iso.datetime().meta({ description: 'ISO 8601 time in UTC.', example: '2025-11-06T22:00:00.000Z' });

const Name = z
  .string()
  .min(1, 'must not be empty')
  .max(255)
  .regex(/\S/, 'must not be blank');

export const TaskStatus = z.enum(TASK_STATUSES).meta({ id: 'TaskStatus' });
type TaskStatus = z.infer<typeof TaskStatus>;

export const Priority = z
  .int()
  .min(1, 'must be between 1 and 1000')
  .max(1000, 'must be between 1 and 1000')
  .meta({ description: '1 to 1000; lower runs first.' });

const MaxAttempts = z.int().min(1, 'must be between 1 and 100').max(100, 'must be between 1 and 100');
const Seconds = (max: number) => z.number().min(0, `must be between 0 and ${max}`).max(max, `must be between 0 and ${max}`);
const WorkerId = z.string().min(1, 'must not be empty').max(255).meta({ description: 'Who is working; chosen by the worker.' });
const LeaseId = z.string().min(1, 'must not be empty').max(255).meta({ description: 'The fencing token returned by the claim.' });
const LeaseSeconds = z.number().min(1, 'must be between 1 and 3600').max(3600, 'must be between 1 and 3600');

export const TaskId = urlInt().meta({ description: 'The task id.' });
export const TaskTypeId = urlInt().meta({ description: 'The task type id.' });

// ---------------------------------------------------------------------------------------------
// Task types

export const TaskType = z
  .object({
    id: z.int(),
    name: z.string(),
    description: z.string().nullable(),
    parameters_schema: JsonObject.meta({ description: 'JSON Schema of the parameters of tasks of this type.' }),
    metadata: JsonObject,
    is_active: z.boolean(),
    created_at: IsoTime,
    updated_at: IsoTime.nullable(),
    max_attempts: z.int().meta({ description: 'Default number of tries of this type’s tasks.' }),
    retry_base_seconds: z.number().meta({ description: 'Delay before the first retry (before jitter); doubles per attempt.' }),
    retry_max_seconds: z.number().meta({ description: 'The longest delay between attempts.' }),
  })
  .meta({ id: 'TaskType' });

const RetryPolicyFields = {
  max_attempts: exact(MaxAttempts).optional().meta({ description: 'Default tries per task (1-100, default 3).' }),
  retry_base_seconds: exact(Seconds(86_400)).optional().meta({ description: 'Backoff base in seconds (default 5).' }),
  retry_max_seconds: exact(Seconds(604_800)).optional().meta({ description: 'Backoff cap in seconds (default 3600).' }),
};

export const TaskTypeCreateInput = z.object({
  name: Name,
  description: z.string().max(10_000).nullish(),
  parameters_schema: JsonObject.optional(),
  metadata: JsonObject.optional(),
  ...RetryPolicyFields,
});

/**
 * A name as a REST path parameter: percent-encoded there, so up to 9 characters of the URL per
 * character of the name; checked as a Name once decoded (see pathName).
 */
const NameInPath = z.string().min(1, 'must not be empty').max(255 * 9).meta({ description: 'The task type’s name, percent-encoded in the URL.' });

export const TaskTypeNameInput = z.object({ name: NameInPath });

export const TaskTypeDeclareInput = TaskTypeCreateInput.extend({ name: NameInPath });

/** A name that came as a path parameter, once decoded. */
export const DecodedName = z.object({ name: Name });

export const TaskTypeListInput = z.object({
  include_inactive: urlBoolean().default(false).meta({ description: 'Include inactive task types.' }),
});

export const TaskTypeGetInput = z.object({ task_type_id: TaskTypeId });

export const TaskTypeUpdateInput = z.object({
  task_type_id: TaskTypeId,
  description: z.string().max(10_000).nullish(),
  parameters_schema: JsonObject.optional(),
  metadata: JsonObject.optional(),
  is_active: exact(z.boolean()).optional(),
  ...RetryPolicyFields,
});

// ---------------------------------------------------------------------------------------------
// Tasks

export const Task = z
  .object({
    id: z.int(),
    task_type_id: z.int(),
    status: TaskStatus,
    parameters: JsonObject,
    priority: z.int(),
    metadata: JsonObject,
    result: z.unknown().meta({ description: 'What the task produced, as JSON; null until set.' }),
    error_message: z.string().nullable(),
    created_at: IsoTime,
    updated_at: IsoTime.nullable(),
    started_at: IsoTime.nullable(),
    completed_at: IsoTime.nullable(),
    attempts: z.int().meta({ description: 'Claims so far.' }),
    max_attempts: z.int(),
    run_at: IsoTime.meta({ description: 'Not claimable before this time.' }),
    worker_id: z.string().nullable().meta({ description: 'The worker of the current or last claim.' }),
    lease_id: z.string().nullable().meta({ description: 'Fencing token of the current or last claim.' }),
    lease_expires_at: IsoTime.nullable(),
    idempotency_key: z.string().nullable(),
    progress: z.number().nullable().meta({ description: 'How far the current or last attempt got, 0 to 100, as its worker last reported.' }),
    progress_message: z.string().nullable().meta({ description: 'What the worker said with that progress.' }),
  })
  .meta({ id: 'Task' });

export const AttemptOutcome = z
  .enum(ATTEMPT_OUTCOMES)
  .meta({ id: 'AttemptOutcome', description: 'How an attempt ended: completed, failed (by its worker), lease_expired (its worker went silent), or cancelled.' });

export const TaskAttempt = z
  .object({
    task_id: z.int(),
    attempt: z.int().meta({ description: 'The task’s attempt count when claimed: 1 for the first; from 1 again after a retry by an operator.' }),
    worker_id: z.string().nullable().meta({ description: 'The worker that claimed it.' }),
    lease_id: z.string().meta({ description: 'The fencing token of the claim.' }),
    claimed_at: IsoTime,
    heartbeats: z.int().meta({ description: 'Heartbeats its worker sent.' }),
    progress: z.number().nullable().meta({ description: 'The last progress its worker reported, 0 to 100.' }),
    progress_message: z.string().nullable().meta({ description: 'What the worker said with that progress.' }),
    finished_at: IsoTime.nullable().meta({ description: 'When it ended; null while it runs.' }),
    outcome: AttemptOutcome.nullable().meta({ description: 'How it ended; null while it runs.' }),
    error_message: z.string().nullable().meta({ description: 'Why it failed, or that its lease expired.' }),
  })
  .meta({ id: 'TaskAttempt', description: 'One claim of a task and what became of it.' });

/** `schema` for the OpenAPI document and the client's types, without its check at run time (see uncheckedTasks). */
function unchecked<T extends z.ZodType>(schema: T): T {
  return Object.assign(schema, { parse: (value: unknown) => value, parseAsync: async (value: unknown) => value });
}

/**
 * Tasks as the queue's hot answers carry them (batch create, claim, exchange), documented by the
 * Task schema but not checked against it at run time: the stores build them from rows whose
 * columns are the schema's fields one for one, on both engines (apps/server/src/answers.test.ts
 * checks the fields of each answer), so checking every task of every answer only cost CPU.
 */
export const uncheckedTasks = () => unchecked(z.array(Task));

const TaskCreateFields = z
  .object({
    task_type_id: exact(z.int().positive()),
    parameters: JsonObject.optional(),
    priority: exact(Priority).optional(),
    metadata: JsonObject.optional(),
    run_at: z.iso
      .datetime({ offset: true })
      // Stored as UTC text and compared as text: it must stay a four-digit year once in UTC.
      .refine((value) => {
        const time = Date.parse(value);
        return Number.isNaN(time) || /^\d{4}-/.test(new Date(time).toISOString()); // an unparsable value is reported by the format check
      }, 'must fall within the years 0000 to 9999 in UTC')
      .transform((value) => new Date(value).toISOString())
      .optional()
      .meta({ description: 'Not claimable before this time (ISO 8601). Default: now.' }),
    delay_seconds: exact(Seconds(31_536_000)).optional().meta({ description: 'Not claimable for this many seconds; instead of run_at.' }),
    max_attempts: exact(MaxAttempts).optional().meta({ description: 'Tries before the task fails for good. Default: its type’s.' }),
    idempotency_key: z
      .string()
      .min(1, 'must not be empty')
      .max(255)
      .optional()
      .meta({ description: 'A second create with this key for the same type returns the first task (200).' }),
  })
  .refine((input) => input.run_at === undefined || input.delay_seconds === undefined, {
    message: 'give run_at or delay_seconds, not both',
    path: ['delay_seconds'],
  });

export const TaskCreateInput = TaskCreateFields;

export const TaskBatchCreateInput = z.object({
  tasks: z.array(TaskCreateFields).min(1, 'must not be empty').max(1000, 'at most 1000 tasks per batch'),
});

export const TaskClaimInput = z.object({
  worker_id: WorkerId,
  task_type_ids: z.array(z.int().positive()).max(100).optional().meta({ description: 'Only these types (by id).' }),
  task_types: z.array(Name).max(100).optional().meta({ description: 'Only these types (by name).' }),
  limit: exact(z.int().min(1, 'must be between 1 and 100').max(100, 'must be between 1 and 100').default(1)).meta({
    description: 'At most this many tasks (1-100).',
  }),
  lease_seconds: exact(LeaseSeconds.default(60)).meta({ description: 'Lease length (1-3600 s).' }),
  wait_seconds: exact(Seconds(30).default(0)).meta({
    description: 'Wait up to this long (0-30 s) for a task when none is claimable now.',
  }),
});

const PROGRESS_RANGE = `must be a number from ${rules.PROGRESS_MIN} to ${rules.PROGRESS_MAX}`;

export const TaskHeartbeatInput = z
  .object({
    task_id: TaskId,
    worker_id: WorkerId,
    lease_id: LeaseId,
    lease_seconds: exact(LeaseSeconds.default(60)).meta({ description: 'New lease length from now (1-3600 s).' }),
    progress: exact(z.number(PROGRESS_RANGE).min(rules.PROGRESS_MIN, PROGRESS_RANGE).max(rules.PROGRESS_MAX, PROGRESS_RANGE))
      .optional()
      .meta({
        description:
          'How far the attempt got, 0 to 100 (fractions allowed), kept on the task and its attempt with `message`. Absent: the progress and message stay as they were.',
      }),
    message: z
      .string()
      .max(rules.MAX_PROGRESS_MESSAGE_LENGTH, `must be at most ${rules.MAX_PROGRESS_MESSAGE_LENGTH} characters`)
      .optional()
      .meta({
        description: `What the worker is doing (at most ${rules.MAX_PROGRESS_MESSAGE_LENGTH} characters), sent with \`progress\`; a progress sent without one clears the message.`,
      }),
  })
  .refine((input) => input.message === undefined || input.progress !== undefined, {
    message: 'is sent with progress: give progress too',
    path: ['message'],
  });

export const TaskCompleteInput = z.object({
  task_id: TaskId,
  worker_id: WorkerId,
  lease_id: LeaseId,
  result: z.unknown().refine(fitsJsonLimit, JSON_TOO_LARGE).optional().meta({ description: 'Any JSON value.' }),
});

export const TaskFailInput = z.object({
  task_id: TaskId,
  worker_id: WorkerId,
  lease_id: LeaseId,
  error_message: z.string().min(1, 'must not be empty').max(65_536),
  retry: exact(z.boolean().default(true)).meta({ description: 'Retry after a backoff while attempts remain.' }),
});

const Completion = z.object({
  task_id: z.int().positive(),
  lease_id: LeaseId,
  result: z.unknown().refine(fitsJsonLimit, JSON_TOO_LARGE).optional().meta({ description: 'Any JSON value.' }),
});

const Failure = z.object({
  task_id: z.int().positive(),
  lease_id: LeaseId,
  error_message: z.string().min(1, 'must not be empty').max(65_536),
  retry: exact(z.boolean().default(true)).meta({ description: 'Retry after a backoff while attempts remain.' }),
});

export const TaskExchangeInput = z.object({
  ...TaskClaimInput.shape,
  limit: exact(z.int().min(0, 'must be between 0 and 100').max(100, 'must be between 0 and 100').default(0)).meta({
    description: 'Claim at most this many tasks (0-100; 0, the default, claims none).',
  }),
  completed: z.array(Completion).max(100, 'at most 100 per request').default([]).meta({
    description: 'Attempts this worker finished, each completed with its result, as POST /api/tasks/{task_id}/complete would.',
  }),
  failed: z.array(Failure).max(100, 'at most 100 per request').default([]).meta({
    description: 'Attempts this worker finished with an error, as POST /api/tasks/{task_id}/fail would.',
  }),
});

export const SettleOutcome = z
  .union([
    z.object({
      task_id: z.int(),
      status: TaskStatus.meta({ description: 'The task’s status after it: completed; pending when it will be retried; failed.' }),
    }),
    z.object({
      task_id: z.int(),
      error: z.object({
        status: z.int().meta({ description: 'The HTTP status the single operation would have answered: 404, or 409 when the lease is lost.' }),
        detail: z.string(),
      }),
    }),
  ])
  .meta({ id: 'SettleOutcome' });

export const TaskExchangeOutput = z.object({
  settled: z.array(SettleOutcome).meta({ description: 'One per entry of `completed`, then of `failed`, in the order given.' }),
  tasks: uncheckedTasks().meta({ description: 'The tasks claimed, as POST /api/tasks/claim answers them.' }),
});

/**
 * Statuses to match: one, several as a list (over tRPC, or in a JSON body), and in a URL the
 * `status` parameter repeated (`?status=failed&status=cancelled`) or a comma list
 * (`?status=failed,cancelled`), or both.
 */
const StatusFilter = z
  .union([z.string(), z.array(z.string()).max(20, 'at most 20 statuses')])
  // Checked here rather than item by item, so that a bad status is reported at `status`, as it was
  // when the parameter took one status.
  .transform((value, ctx) => {
    const statuses = (Array.isArray(value) ? value : [value]).flatMap((item) => item.split(','));
    if (statuses.every((status): status is TaskStatus => (TASK_STATUSES as readonly string[]).includes(status))) return statuses;
    ctx.issues.push({ code: 'invalid_value', values: [...TASK_STATUSES], input: value });
    return z.NEVER;
  })
  .meta({
    override: ({ jsonSchema }) => {
      for (const key of Object.keys(jsonSchema)) if (key !== 'description') delete jsonSchema[key as keyof typeof jsonSchema];
      Object.assign(jsonSchema, { type: 'array', items: { type: 'string', enum: [...TASK_STATUSES] } });
    },
  });

/** A bound of a time range, ISO 8601 with an offset (`Z` for UTC); the store compares it in UTC. */
const TimeBound = (description: string) => z.iso.datetime({ offset: true }).optional().meta({ description });

const FilterText = z.string().min(1, 'must not be empty').max(255);

/**
 * The filters of the task list and of bulk actions: every one given must hold. `inUrl`: as query
 * parameters (numbers written in decimal) rather than in a JSON body (JSON numbers).
 */
const taskMatchFields = (inUrl: boolean) => {
  const priority = inUrl ? urlWhole('must be a whole number between 1 and 1000', { minimum: 1, maximum: 1000 }) : exact(Priority);
  return {
    task_type_id: (inUrl ? TaskTypeId : exact(z.int().positive())).optional().meta({ description: 'Only tasks of this type.' }),
    task_type: Name.optional().meta({ description: 'Only tasks of the type of this name.' }),
    status: StatusFilter.optional().meta({
      description: inUrl
        ? 'Only tasks in this status; several: repeat the parameter (`status=failed&status=cancelled`) or list them with commas (`status=failed,cancelled`).'
        : 'Only tasks in these statuses.',
    }),
    priority_min: priority.optional().meta({ description: 'Only tasks of this priority or a higher number.' }),
    priority_max: priority.optional().meta({ description: 'Only tasks of this priority or a lower number.' }),
    created_after: TimeBound('Only tasks created at or after this time.'),
    created_before: TimeBound('Only tasks created before this time.'),
    updated_after: TimeBound('Only tasks last changed at or after this time.'),
    updated_before: TimeBound('Only tasks last changed before this time.'),
    finished_after: TimeBound('Only tasks that finished (completed_at) at or after this time.'),
    finished_before: TimeBound('Only tasks that finished (completed_at) before this time.'),
    run_at_after: TimeBound('Only tasks whose run_at is at or after this time.'),
    run_at_before: TimeBound('Only tasks whose run_at is before this time.'),
    worker_id: FilterText.optional().meta({ description: 'Only tasks whose current or last claim was by this worker.' }),
    idempotency_key: FilterText.optional().meta({ description: 'Only the task with this idempotency key (one per type).' }),
    metadata_key: FilterText.optional().meta({ description: 'With metadata_value: only tasks whose metadata has this top-level field.' }),
    metadata_value: z.string().max(10_000).optional().meta({
      description: 'With metadata_key: the field must hold this string, or a number or boolean written so (`42`, `true`).',
    }),
    q: z.string().min(1, 'must not be empty').max(500).optional().meta({
      description:
        'Search: only tasks whose parameters, metadata, result or error message hold every word of it, whole, in any case (words are runs of letters and digits: `bob@example.com` is bob, example and com; at most 16). A list with it comes in id order, so only the newest and oldest sorts.',
    }),
  };
};

export const TaskListInput = z.object({
  ...taskMatchFields(true),
  sort: z.enum(rules.TASK_SORTS).default('newest').meta({
    description: '`newest` (default) or `oldest` by creation; `priority` in the order workers claim (priority, then run_at); `run_at`. Ties by id.',
  }),
  cursor: z.string().min(1, 'must not be empty').max(2048).optional().meta({
    description: 'Where the page starts: the cursor the previous page gave (`X-Next-Cursor`, or `next_cursor`), with the same sort.',
  }),
  limit: urlWhole('must be a whole number between 1 and 1000', { minimum: 1, maximum: 1000, default: 100 })
    .default(100)
    .meta({ description: 'At most this many tasks (fewer when they hold more than 8 MiB of JSON).' }),
});

export const TaskPage = z
  .object({
    items: z.array(Task),
    next_cursor: z.string().nullable().meta({ description: 'Pass as `cursor` for the next page; null when no task follows.' }),
  })
  .meta({ id: 'TaskPage' });

export const TaskBulkInput = z.object({
  ids: z.array(z.int().positive()).min(1, 'must not be empty').max(1000, 'at most 1000 ids').optional().meta({
    description: 'These tasks (with `filter`: those of them that match it).',
  }),
  // Strict: a misspelt condition must not silently widen what a bulk action takes.
  filter: z.strictObject(taskMatchFields(false)).optional().meta({
    description: 'The tasks matching these conditions, as the list’s filters; at least one is required.',
  }),
  limit: exact(z.int().min(1, 'must be between 1 and 1000').max(1000, 'must be between 1 and 1000').default(1000)).meta({
    description: 'Change at most this many tasks in this call (1-1000, default 1000); `more` says whether others matched.',
  }),
});

export const BulkResult = z
  .object({
    changed: z.int().meta({ description: 'How many tasks the action changed (or deleted).' }),
    more: z.boolean().meta({ description: 'More tasks matched than `limit`: call again for them.' }),
  })
  .meta({ id: 'BulkResult' });

export const TaskGetInput = z.object({ task_id: TaskId });

// ---------------------------------------------------------------------------------------------
// Waiting for a result, and live events

/** GET /api/tasks/{task_id}: the task, waiting up to wait_seconds for it to finish. */
export const TaskGetWaitInput = TaskGetInput.extend({
  wait_seconds: urlWhole('must be a whole number of seconds between 0 and 30', { minimum: 0, maximum: 30, default: 0 })
    .optional()
    .meta({
      description:
        'Wait up to this long (0-30 s, default 0) for the task to be finished (completed, failed or cancelled); it is answered as soon as it is, or as it is when the time is up.',
    }),
});

export const TaskChangeKind = z.enum(TASK_CHANGE_KINDS).meta({
  id: 'TaskChangeKind',
  description:
    'What happened: `failed` is an attempt that failed (status `pending` when it will be retried); `retried`, a failed or cancelled task put back to pending; `updated`, another change of status by hand.',
});

/** Something that happened to a task, as live events stream it. */
export const TaskChange = z
  .object({
    id: z.string().meta({ description: 'Its position in the log of changes: opaque; the event id to resume after.' }),
    task_id: z.int(),
    task_type_id: z.int(),
    kind: TaskChangeKind,
    at: IsoTime,
    status: TaskStatus.meta({ description: 'The task’s status after it (its last status, for `deleted`).' }),
    attempt: z.int().meta({ description: 'The task’s attempt count after it.' }),
    worker_id: z.string().nullable().meta({ description: 'The worker, for changes made by or to an attempt.' }),
    progress: z.number().nullable().meta({ description: 'For `progress`: what the worker reported (0 to 100).' }),
    message: z.string().nullable().meta({ description: 'For `progress`, the worker’s message; for `failed` and `lease_expired`, the error.' }),
  })
  .meta({ id: 'TaskChange' });

/** tasks.events: which changes to stream (every condition given must hold), and from where. */
export const TaskEventsInput = z.object({
  task_id: z.int().positive().optional().meta({ description: 'Only this task’s changes.' }),
  task_type_ids: z.array(z.int().positive()).min(1).max(100).optional().meta({ description: 'Only changes of tasks of these types.' }),
  statuses: z.array(TaskStatus).min(1).optional().meta({ description: 'Only changes that left the task in one of these statuses.' }),
  kinds: z.array(TaskChangeKind).min(1).optional().meta({ description: 'Only these kinds of change.' }),
  lastEventId: z.string().max(64).nullish().meta({
    description: 'Resume after this event (a change’s id): set by the client when it reconnects.',
  }),
});

export const TaskUpdateInput = z.object({
  task_id: TaskId,
  status: TaskStatus.optional(),
  priority: exact(Priority).optional(),
  parameters: JsonObject.optional(),
  metadata: JsonObject.optional(),
  result: z.unknown().refine(fitsJsonLimit, JSON_TOO_LARGE).optional().meta({ description: 'Any JSON value; null clears it.' }),
  error_message: z.string().max(65_536).nullish(),
});

export type TaskType = z.infer<typeof TaskType>;
export type TaskChange = z.infer<typeof TaskChange>;
export type Task = z.infer<typeof Task>;
export type TaskTypeCreateInput = z.input<typeof TaskTypeCreateInput>;
export type TaskTypeUpdateInput = z.input<typeof TaskTypeUpdateInput>;
export type TaskCreateInput = z.input<typeof TaskCreateInput>;
export type TaskUpdateInput = z.input<typeof TaskUpdateInput>;
export type TaskListInput = z.input<typeof TaskListInput>;
export type TaskPage = z.infer<typeof TaskPage>;
export type TaskBulkInput = z.input<typeof TaskBulkInput>;
export type BulkResult = z.infer<typeof BulkResult>;
export type TaskClaimInput = z.input<typeof TaskClaimInput>;
export type TaskExchangeInput = z.input<typeof TaskExchangeInput>;

const Percentiles = z.object({
  p50: z.number().nullable().meta({ description: 'Median, in milliseconds; null with nothing observed.' }),
  p95: z.number().nullable().meta({ description: '95th percentile, in milliseconds; null with nothing observed.' }),
});

const Throughput = z.object({
  at: IsoTime.meta({ description: 'Start of the period.' }),
  completed: z.int().meta({ description: 'Attempts that completed.' }),
  failed: z.int().meta({ description: 'Attempts that failed with no retry left: their tasks failed.' }),
  retried: z.int().meta({ description: 'Attempts that failed (or whose lease expired) and were put back for a retry.' }),
});

export const Stats = z
  .object({
    at: IsoTime.meta({ description: 'When these figures were read.' }),
    types: z.array(
      z.object({
        task_type_id: z.int(),
        task_type: z.string(),
        counts: z.record(TaskStatus, z.int()).meta({ description: 'Tasks in each status now.' }),
        oldest_pending_age_seconds: z.number().nullable().meta({ description: 'Seconds since the oldest pending task was created; null when none is pending.' }),
        last_hour: z.object({
          completed: z.int(),
          failed: z.int(),
          retried: z.int(),
          wait_ms: Percentiles.meta({ description: 'Queue wait: from when a task was due (its run_at) to its claim.' }),
          run_ms: Percentiles.meta({ description: 'Run time: from a claim to the end of the attempt.' }),
        }),
      }),
    ),
    per_minute: z.array(Throughput).meta({ description: 'All types, the last 60 minutes, oldest first: the current minute last.' }),
    per_hour: z.array(Throughput).meta({ description: 'All types, the last 24 hours, oldest first: the current hour last.' }),
  })
  .meta({ id: 'Stats' });
