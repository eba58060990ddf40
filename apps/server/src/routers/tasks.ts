import { z } from 'zod';
import { Task, TaskCreateInput, TaskGetInput, TaskListInput, TaskUpdateInput } from '../schemas.js';
import { publicProcedure, router } from '../trpc.js';

const tags = ['Tasks'];

export const tasksRouter = router({
  create: publicProcedure
    .meta({
      openapi: { method: 'POST', path: '/tasks', tags, summary: 'Create a task', errorResponses: [400, 404, 422] },
      successStatus: 201,
    })
    .input(TaskCreateInput)
    .output(Task)
    .mutation(({ ctx, input }) => ctx.store.createTask(input)),

  list: publicProcedure
    .meta({
      openapi: { method: 'GET', path: '/tasks', tags, summary: 'List tasks, newest first', errorResponses: [422] },
    })
    .input(TaskListInput)
    .output(z.array(Task))
    .query(({ ctx, input }) => ctx.store.listTasks(input)),

  get: publicProcedure
    .meta({ openapi: { method: 'GET', path: '/tasks/{task_id}', tags, summary: 'Get a task', errorResponses: [404, 422] } })
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
    })
    .input(TaskUpdateInput)
    .output(Task)
    .mutation(({ ctx, input: { task_id, ...patch } }) => ctx.store.updateTask(task_id, patch)),

  delete: publicProcedure
    .meta({
      openapi: { method: 'DELETE', path: '/tasks/{task_id}', tags, summary: 'Delete a task', errorResponses: [404, 422] },
      successStatus: 204,
    })
    .input(TaskGetInput)
    .output(z.void())
    .mutation(({ ctx, input }) => ctx.store.deleteTask(input.task_id)),
});
