import { z } from 'zod';
import {
  TaskType,
  TaskTypeCreateInput,
  TaskTypeDeclareInput,
  TaskTypeGetInput,
  TaskTypeListInput,
  TaskTypeNameInput,
  TaskTypeUpdateInput,
} from '../schemas.js';
import { pathName, publicProcedure, router } from '../trpc.js';

const tags = ['TaskTypes'];

export const taskTypesRouter = router({
  create: publicProcedure
    .meta({
      openapi: { method: 'POST', path: '/task-types', tags, summary: 'Register a task type', errorResponses: [409, 422] },
      successStatus: 201,
      access: 'admin',
    })
    .input(TaskTypeCreateInput)
    .output(TaskType)
    .mutation(({ ctx, input }) => ctx.store.createTaskType(input)),

  list: publicProcedure
    .meta({
      openapi: { method: 'GET', path: '/task-types', tags, summary: 'List task types, by name', errorResponses: [422] },
      access: 'read',
    })
    .input(TaskTypeListInput)
    .output(z.array(TaskType))
    .query(({ ctx, input }) => ctx.store.listTaskTypes(input)),

  get: publicProcedure
    .meta({
      openapi: { method: 'GET', path: '/task-types/{task_type_id}', tags, summary: 'Get a task type', errorResponses: [404, 422] },
      access: 'read',
    })
    .input(TaskTypeGetInput)
    .output(TaskType)
    .query(({ ctx, input }) => ctx.store.getTaskType(input.task_type_id)),

  getByName: publicProcedure
    .meta({
      openapi: { method: 'GET', path: '/task-types/by-name/{name}', tags, summary: 'Get a task type by its name', errorResponses: [404, 422] },
      access: 'read',
    })
    .input(TaskTypeNameInput)
    .output(TaskType)
    .query(({ ctx, input }) => ctx.store.getTaskTypeByName(pathName(ctx, input.name))),

  declare: publicProcedure
    .meta({
      openapi: {
        method: 'PUT',
        path: '/task-types/by-name/{name}',
        tags,
        summary: 'Register a task type, or bring the type of that name in line: idempotent',
        description:
          'For a service that declares its task types at start-up. Registers the type when the name is new (201); otherwise updates the fields given that differ (200), and leaves a type that already matches exactly as it is, its version included. Fields left out are not compared; a deactivated type stays inactive.',
        errorResponses: [422],
      },
      access: 'admin',
    })
    .input(TaskTypeDeclareInput)
    .output(TaskType)
    .mutation(async ({ ctx, input }) => {
      const { type, created } = await ctx.store.declareTaskType({ ...input, name: pathName(ctx, input.name) });
      if (created) ctx.responseStatus = 201;
      return type;
    }),

  update: publicProcedure
    .meta({
      openapi: {
        method: 'PUT',
        path: '/task-types/{task_type_id}',
        tags,
        summary: 'Update a task type; absent fields stay as they are',
        errorResponses: [404, 422],
      },
      access: 'admin',
    })
    .input(TaskTypeUpdateInput)
    .output(TaskType)
    .mutation(({ ctx, input: { task_type_id, ...patch } }) => ctx.store.updateTaskType(task_type_id, patch)),

  delete: publicProcedure
    .meta({
      openapi: {
        method: 'DELETE',
        path: '/task-types/{task_type_id}',
        tags,
        summary: 'Deactivate a task type (soft delete)',
        errorResponses: [404, 422],
      },
      successStatus: 204,
      access: 'admin',
    })
    .input(TaskTypeGetInput)
    .output(z.void())
    .mutation(({ ctx, input }) => ctx.store.deactivateTaskType(input.task_type_id)),
});
