import type { AnyTRPCProcedure } from '@trpc/server';
import { statsRouter } from './routers/stats.js';
import { taskTypesRouter } from './routers/task-types.js';
import { tasksRouter } from './routers/tasks.js';
import { restFieldLocators, router, type Meta } from './trpc.js';

export const appRouter = router({
  taskTypes: taskTypesRouter,
  tasks: tasksRouter,
  stats: statsRouter,
});

export type AppRouter = typeof appRouter;

/** Each procedure's metadata, by its dotted path (`tasks.create`). */
export const procedureMeta = new Map<string, Meta>(
  Object.entries(appRouter._def.procedures as unknown as Record<string, AnyTRPCProcedure>).map(([path, procedure]) => [
    path,
    (procedure._def.meta ?? {}) as Meta,
  ]),
);

// On REST, a field is in the path when the route names it, else in the query (GET, DELETE) or body.
for (const [path, { openapi }] of procedureMeta) {
  if (!openapi) continue;
  const inPath = new Set([...openapi.path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]));
  const elsewhere = openapi.method === 'GET' || openapi.method === 'DELETE' ? 'query' : 'body';
  restFieldLocators.set(path, (field) => (typeof field === 'string' && inPath.has(field) ? 'path' : elsewhere));
}
