import { z } from 'zod';
import { claimWithWait, exchangeWithWait } from '../queue/claim.js';
import {
  Task,
  TaskBatchCreateInput,
  TaskClaimInput,
  TaskCompleteInput,
  TaskCreateInput,
  TaskExchangeInput,
  TaskExchangeOutput,
  TaskFailInput,
  TaskGetInput,
  TaskHeartbeatInput,
  TaskListInput,
  TaskUpdateInput,
  uncheckedTasks,
} from '../schemas.js';
import { publicProcedure, router } from '../trpc.js';

const tags = ['Tasks'];

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
        summary: 'Extend a lease; 409 when the lease is lost or the task was cancelled',
        errorResponses: [404, 409, 422],
      },
      access: 'work',
    })
    .input(TaskHeartbeatInput)
    .output(Task)
    .mutation(({ ctx, input: { task_id, lease_seconds, ...lease } }) => ctx.store.heartbeatTask(task_id, lease, lease_seconds)),

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
      openapi: { method: 'GET', path: '/tasks', tags, summary: 'List tasks, newest first', errorResponses: [422] },
      access: 'read',
    })
    .input(TaskListInput)
    .output(z.array(Task))
    .query(({ ctx, input }) => ctx.store.listTasks(input)),

  get: publicProcedure
    .meta({ access: 'read', openapi: { method: 'GET', path: '/tasks/{task_id}', tags, summary: 'Get a task', errorResponses: [404, 422] } })
    .input(TaskGetInput)
    .output(Task)
    .query(({ ctx, input }) => ctx.store.getTask(input.task_id)),

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
