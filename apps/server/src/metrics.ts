import type { TaskEvent, TaskStore } from '@prismq/db';
import type { LongPollLimiter } from '@prismq/api';
import type { FastifyInstance } from 'fastify';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

const TASK_EVENT_KINDS: readonly TaskEvent['kind'][] = ['created', 'claimed', 'completed', 'failed', 'retried', 'cancelled', 'lease_expired'];

/** The label of a request's route: its pattern, never the raw URL, so that labels stay few. */
export function routeLabel(method: string, url: string, routePattern: string | undefined, restRoutes: Set<string>): string {
  const path = url.split('?')[0]!;
  if (routePattern === '/trpc/:path') {
    const procedure = path.slice('/trpc/'.length);
    return procedure.includes(',') ? '/trpc/(batch)' : `/trpc/${procedure}`;
  }
  if (routePattern === '/api/*') {
    const pattern = path.replace(/\/\d+(?=\/|$)/g, '/{id}');
    return restRoutes.has(`${method} ${pattern}`) ? pattern : '/api/(unknown)';
  }
  return routePattern ?? '(unknown)';
}

/**
 * Prometheus metrics at /metrics: HTTP requests by route and status, tasks by what happened to
 * them and by type, queue depth by type and status, and the process's own metrics.
 */
export function registerMetrics(
  app: FastifyInstance,
  store: TaskStore,
  restRoutes: Set<string>,
  longPolls: LongPollLimiter,
): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });

  const labelNames = ['method', 'route', 'status'] as const;
  const requests = new Counter({ name: 'prismq_http_requests_total', help: 'HTTP requests answered.', labelNames, registers: [registry] });
  const duration = new Histogram({
    name: 'prismq_http_request_duration_seconds',
    help: 'Time to answer HTTP requests.',
    labelNames,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  });
  // Fastify remembers a request's originalUrl when first asked; ask before trpc-to-openapi
  // rewrites the URL of REST requests to strip `/api`.
  app.addHook('onRequest', async (request) => void request.originalUrl);
  app.addHook('onResponse', async (request, reply) => {
    const labels = {
      method: request.method,
      route: routeLabel(request.method, request.originalUrl, request.routeOptions.url, restRoutes),
      status: String(reply.statusCode),
    };
    requests.inc(labels);
    duration.observe(labels, reply.elapsedTime / 1000);
  });

  // Task events are counted by type id as they happen and labelled with type names on scrape.
  const totals = new Map<string, number>();
  const unsubscribe = store.onTaskEvent(({ kind, task_type_id, count }: TaskEvent) => {
    const key = `${kind}:${task_type_id}`;
    totals.set(key, (totals.get(key) ?? 0) + count);
  });
  app.addHook('onClose', async () => unsubscribe());
  const typeNames = async () =>
    new Map((await store.listTaskTypes({ include_inactive: true })).map((type) => [type.id, type.name]));

  new Counter({
    name: 'prismq_tasks_total',
    help: `Tasks by what happened to them (${TASK_EVENT_KINDS.join(', ')}) and by type, since the server started.`,
    labelNames: ['event', 'task_type'],
    registers: [registry],
    async collect() {
      const names = await typeNames();
      this.reset();
      for (const [key, value] of totals) {
        const [event, id] = key.split(':');
        this.inc({ event, task_type: names.get(Number(id)) ?? `#${id}` }, value);
      }
    },
  });

  new Gauge({
    name: 'prismq_queue_depth',
    help: 'Tasks by type and status.',
    labelNames: ['task_type', 'status'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const { task_type, status, count } of await store.countTasks()) this.set({ task_type, status }, count);
    },
  });

  new Gauge({
    name: 'prismq_claims_waiting',
    help: `Claims and exchanges waiting for tasks now (wait_seconds), on this server; at most ${longPolls.max}.`,
    registers: [registry],
    collect() {
      this.set(longPolls.count);
    },
  });

  app.get('/metrics', async (_request, reply) => reply.type(registry.contentType).send(await registry.metrics()));
  return registry;
}
