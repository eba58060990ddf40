import { z } from 'zod';
import { claimWithWait, exchangeWithWait } from '../queue/claim.js';
import { linkNextPage } from '../pages.js';
import {
  BulkResult,
  Task,
  TaskBatchCreateInput,
  TaskBulkInput,
  TaskClaimInput,
  TaskCompleteInput,
  TaskCreateInput,
  TaskExchangeInput,
  TaskExchangeOutput,
  TaskFailInput,
  TaskAttempt,
  TaskGetInput,
  TaskHeartbeatInput,
  TaskListInput,
  TaskPage,
  TaskUpdateInput,
  uncheckedTasks,
} from '../schemas.js';
import { publicProcedure, router } from '../trpc.js';
import { followChanges, getTaskWaiting } from '../events/follow.js';
import { TaskEventsInput, TaskGetWaitInput } from '../schemas.js';

const tags = ['Tasks'];

const BULK_DESCRIPTION =
  'Takes the tasks of `ids`, or those matching `filter` (the list’s filters; at least one condition), or those of `ids` that match `filter`; of them, only those in a status the action allows change, at most `limit` per call. Answers how many changed, and whether more matched (`more`: call again). All in one transaction.';

export const tasksRouter = router({
  create: publicProcedure
    .meta({
      openapi: {
        method: 'POST',
        path: '/tasks',
        tags,
        summary: 'Create a task',
        description: 'With an `idempotency_key` already used for the type, answers 200 with the existing task.',
        errorResponses: [400, 404, 422],
      },
      successStatus: 201,
      access: 'produce',
    })
    .input(TaskCreateInput)
    .output(Task)
    .mutation(async ({ ctx, input }) => {
      const { task, created } = await ctx.store.createTask(input);
      if (!created) ctx.responseStatus = 200;
      return task;
    }),

  createBatch: publicProcedure
    .meta({
      openapi: {
        method: 'POST',
        path: '/tasks/batch',
        tags,
        summary: 'Create up to 1000 tasks in one transaction: all or none',
        errorResponses: [400, 404, 422],
      },
      successStatus: 201,
      access: 'produce',
    })
    .input(TaskBatchCreateInput)
    .output(uncheckedTasks())
    .mutation(({ ctx, input }) => ctx.store.createTasks(input.tasks)),

  claim: publicProcedure
    .meta({
      openapi: {
        method: 'POST',
        path: '/tasks/claim',
        tags,
        summary: 'Lease claimable tasks to a worker, waiting up to wait_seconds for one',
        description:
          'Takes pending tasks whose run_at has come, and running tasks whose lease expired with attempts left, of active types, by priority, then run_at, then id. Each claimed task is running with a fresh lease_id that heartbeat, complete and fail require.',
        errorResponses: [422],
      },
      access: 'work',
    })
    .input(TaskClaimInput)
    .output(uncheckedTasks())
    .mutation(({ ctx, input: { wait_seconds, ...request } }) =>
      wait_seconds > 0
        ? ctx.longPolls.run(() => claimWithWait(ctx.store, request, wait_seconds, ctx.signal))
        : ctx.store.claimTasks(request),
    ),

  exchange: publicProcedure
    .meta({
      openapi: {
        method: 'POST',
        path: '/tasks/exchange',
        tags,
        summary: 'A worker’s turn in one request: settle finished attempts, then claim the next tasks',
        description:
          'Completes and fails the attempts given, each as its own operation would (one whose lease is lost is reported in `settled` with the status that operation would have answered, and does not stop the others), then claims up to `limit` tasks as POST /api/tasks/claim does, all in one transaction. When it claims none and `wait_seconds` is set, the settlements are committed first and the claim then waits. The cheap path for workers: one request and one commit per turn instead of one per task and step.',
        errorResponses: [422],
      },
      access: 'work',
    })
    .input(TaskExchangeInput)
    .output(TaskExchangeOutput)
    .mutation(({ ctx, input }) => exchangeWithWait(ctx, input)),

  heartbeat: publicProcedure
    .meta({
      openapi: {
        method: 'POST',
        path: '/tasks/{task_id}/heartbeat',
        tags,
        summary: 'Extend a lease, and report progress; 409 when the lease is lost or the task was cancelled',
        description:
          'With `progress` (0-100) and optionally a `message`, the task and its attempt keep them (see GET /api/tasks/{task_id}/attempts), in the same write as the lease; a heartbeat without `progress` leaves them as they were. A `message` comes with a `progress`.',
        errorResponses: [404, 409, 422],
      },
      access: 'work',
    })
    .input(TaskHeartbeatInput)
    .output(Task)
    .mutation(({ ctx, input: { task_id, lease_seconds, progress, message, ...lease } }) =>
      ctx.store.heartbeatTask(task_id, lease, lease_seconds, progress === undefined ? undefined : { progress, message }),
    ),

  complete: publicProcedure
    .meta({
      openapi: {
        method: 'POST',
        path: '/tasks/{task_id}/complete',
        tags,
        summary: 'Finish a leased task with its result; 409 when the lease is lost',
        errorResponses: [404, 409, 422],
      },
      access: 'work',
    })
    .input(TaskCompleteInput)
    .output(Task)
    .mutation(({ ctx, input: { task_id, result, ...lease } }) => ctx.store.completeTask(task_id, lease, result)),

  fail: publicProcedure
    .meta({
      openapi: {
        method: 'POST',
        path: '/tasks/{task_id}/fail',
        tags,
        summary: 'Report a failed attempt: retried after a backoff while attempts remain, else failed',
        errorResponses: [404, 409, 422],
      },
      access: 'work',
    })
    .input(TaskFailInput)
    .output(Task)
    .mutation(({ ctx, input: { task_id, error_message, retry, ...lease } }) =>
      ctx.store.failTask(task_id, lease, error_message, retry),
    ),

  // Before cancel and retry: their paths (/tasks/{task_id}/…) would match /tasks/bulk/… too.
  bulkRetry: publicProcedure
    .meta({
      openapi: {
        method: 'POST',
        path: '/tasks/bulk/retry',
        tags,
        summary: 'Retry up to 1000 failed or cancelled tasks, by ids or by a filter, in one transaction',
        description: BULK_DESCRIPTION,
        errorResponses: [422],
      },
      access: 'produce',
    })
    .input(TaskBulkInput)
    .output(BulkResult)
    .mutation(({ ctx, input }) => ctx.store.retryTasks(input)),

  bulkCancel: publicProcedure
    .meta({
      openapi: {
        method: 'POST',
        path: '/tasks/bulk/cancel',
        tags,
        summary: 'Cancel up to 1000 pending or running tasks, by ids or by a filter, in one transaction',
        description: `${BULK_DESCRIPTION} Their workers learn it on their next heartbeat, as with a single cancel.`,
        errorResponses: [422],
      },
      access: 'produce',
    })
    .input(TaskBulkInput)
    .output(BulkResult)
    .mutation(({ ctx, input }) => ctx.store.cancelTasks(input)),

  bulkDelete: publicProcedure
    .meta({
      openapi: {
        method: 'POST',
        path: '/tasks/bulk/delete',
        tags,
        summary: 'Delete up to 1000 tasks in any status, by ids or by a filter, in one transaction',
        description: BULK_DESCRIPTION,
        errorResponses: [422],
      },
      access: 'admin',
    })
    .input(TaskBulkInput)
    .output(BulkResult)
    .mutation(({ ctx, input }) => ctx.store.deleteTasks(input)),

  cancel: publicProcedure
    .meta({
      openapi: {
        method: 'POST',
        path: '/tasks/{task_id}/cancel',
        tags,
        summary: 'Cancel a pending or running task; its worker learns it on its next heartbeat',
        errorResponses: [404, 409, 422],
      },
      access: 'produce',
    })
    .input(TaskGetInput)
    .output(Task)
    .mutation(({ ctx, input }) => ctx.store.cancelTask(input.task_id)),

  retry: publicProcedure
    .meta({
      openapi: {
        method: 'POST',
        path: '/tasks/{task_id}/retry',
        tags,
        summary: 'Put a failed or cancelled task back to pending, with its attempts reset',
        errorResponses: [404, 409, 422],
      },
      access: 'produce',
    })
    .input(TaskGetInput)
    .output(Task)
    .mutation(({ ctx, input }) => ctx.store.retryTask(input.task_id)),

  list: publicProcedure
    .meta({
      openapi: {
        method: 'GET',
        path: '/tasks',
        tags,
        summary: 'List tasks, newest first, filtered and sorted, a page at a time',
        description:
          'The body is the page, a plain array. When more tasks may follow, the answer has `Link: </api/tasks?…&cursor=…>; rel="next"` (this request with the next page’s cursor) and `X-Next-Cursor`: pass the cursor back, with the same sort, for the next page. Pages are keyset pages: walked from the first while tasks are created and deleted, they list every task that exists throughout exactly once.',
        errorResponses: [422],
      },
      access: 'read',
    })
    .input(TaskListInput)
    .output(z.array(Task))
    .query(async ({ ctx, input }) => {
      const { items, next_cursor } = await ctx.store.listTaskPage(input);
      linkNextPage(ctx, next_cursor);
      return items;
    }),

  /** The list's page with its next cursor in the body (tRPC only: REST has it in GET /api/tasks's headers). */
  page: publicProcedure
    .meta({ access: 'read' })
    .input(TaskListInput)
    .output(TaskPage)
    .query(({ ctx, input }) => ctx.store.listTaskPage(input)),

  get: publicProcedure
    .meta({
      access: 'read',
      openapi: {
        method: 'GET',
        path: '/tasks/{task_id}',
        tags,
        summary: 'Get a task, waiting up to wait_seconds for it to finish',
        description:
          'With `wait_seconds`, answers as soon as the task is completed, failed or cancelled (at once if it is already), or with the task as it is when the time is up. Such waits count toward MAX_LONG_POLLS with waiting claims: 429 when full.',
        errorResponses: [404, 422, 429],
      },
    })
    .input(TaskGetWaitInput)
    .output(Task)
    .query(({ ctx, input }) => getTaskWaiting(ctx, input.task_id, input.wait_seconds ?? 0)),

  /**
   * Live events: the changes of tasks as they happen, over server-sent events (tRPC's
   * httpSubscriptionLink), each with its id as the event id, so that a client that reconnects
   * resumes after the last one it received. Not on REST.
   */
  events: publicProcedure
    .meta({ access: 'read' })
    .input(TaskEventsInput)
    .subscription(({ ctx, input: { lastEventId, task_id, ...filter }, signal }) =>
      followChanges(ctx, { ...filter, task_ids: task_id === undefined ? undefined : [task_id] }, lastEventId, signal ?? ctx.signal),
    ),

  attempts: publicProcedure
    .meta({
      openapi: {
        method: 'GET',
        path: '/tasks/{task_id}/attempts',
        tags,
        summary: 'A task’s history: each attempt, oldest first',
        description:
          'One entry per claim: its worker, when it was claimed, its heartbeats and last progress, and when and how it ended (completed, failed with its error, lease_expired, cancelled); the running attempt has no end yet. After a retry by an operator, `attempt` counts from 1 again and the earlier attempts stay. Deleted with the task.',
        errorResponses: [404, 422],
      },
      access: 'read',
    })
    .input(TaskGetInput)
    .output(z.array(TaskAttempt))
    .query(({ ctx, input }) => ctx.store.listAttempts(input.task_id)),

  update: publicProcedure
    .meta({
      openapi: {
        method: 'PUT',
        path: '/tasks/{task_id}',
        tags,
        summary: 'Update a task; absent fields stay as they are',
        description:
          'Setting `status` to `running` sets `started_at`; `completed`, `failed` or `cancelled` sets `completed_at`.',
        errorResponses: [404, 422],
      },
      access: 'produce',
    })
    .input(TaskUpdateInput)
    .output(Task)
    .mutation(({ ctx, input: { task_id, ...patch } }) => ctx.store.updateTask(task_id, patch)),

  delete: publicProcedure
    .meta({
      openapi: { method: 'DELETE', path: '/tasks/{task_id}', tags, summary: 'Delete a task', errorResponses: [404, 422] },
      successStatus: 204,
      access: 'admin',
    })
    .input(TaskGetInput)
    .output(z.void())
    .mutation(({ ctx, input }) => ctx.store.deleteTask(input.task_id)),
});
