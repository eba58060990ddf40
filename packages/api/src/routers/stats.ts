import { z } from 'zod';
import { Stats } from '../schemas.js';
import { publicProcedure, router } from '../trpc.js';

export const statsRouter = router({
  get: publicProcedure
    .meta({
      openapi: {
        method: 'GET',
        path: '/stats',
        tags: ['Stats'],
        summary: 'The queue at a glance: counts, the oldest pending task, throughput and percentiles per type',
        description:
          'Tasks per type and status now; each type’s oldest pending task; attempts completed, failed and retried per minute over the last hour and per hour over the last day; p50 and p95 of queue wait and run time per type over the last hour (read from histograms, within about a third of a decade). Kept as rollups by the server from the log of task changes, so that reading them costs the same at any number of tasks; a change shows a few seconds after it happened at most.',
        errorResponses: [],
      },
      access: 'read',
    })
    .input(z.object({}).optional())
    .output(Stats)
    .query(({ ctx }) => ctx.store.stats()),
});
