/**
 * The typed client of the PrismQ Task API.
 *
 * ```ts
 * const prismq = createPrismqClient({ url: 'http://localhost:8000' });
 * const type = await prismq.taskTypes.create.mutate({ name: 'video_processing' });
 * const task = await prismq.tasks.create.mutate({ task_type_id: type.id, priority: 10 });
 * ```
 *
 * This entry imports no Node.js module and installs no process handler, so a bundler can take it
 * into a browser app. The worker runtime, which does both, is `@prismq/client/worker`.
 */
import { createTRPCClient, httpBatchLink, httpLink, httpSubscriptionLink, splitLink, TRPCClientError, type HTTPHeaders } from '@trpc/client';
import type { inferRouterError, inferRouterInputs, inferRouterOutputs } from '@trpc/server';
import type { AppRouter } from '@prismq/api';
import { errorLink } from './errors.js';
import { FetchEventSource, type FetchEventSourceInit } from './event-source.js';

export { FetchEventSource, type FetchEventSourceInit };

export type { AppRouter };
export type RouterInputs = inferRouterInputs<AppRouter>;
export type RouterOutputs = inferRouterOutputs<AppRouter>;
export type Task = RouterOutputs['tasks']['get'];
/** One attempt of a task, as `tasks.attempts` (GET /api/tasks/{task_id}/attempts) lists them. */
export type TaskAttempt = RouterOutputs['tasks']['attempts'][number];
export type TaskType = RouterOutputs['taskTypes']['get'];
export type TaskStatus = Task['status'];
export type TaskCreateInput = RouterInputs['tasks']['create'];
export type TaskUpdateInput = RouterInputs['tasks']['update'];
export type TaskListInput = RouterInputs['tasks']['list'];
export type TaskTypeCreateInput = RouterInputs['taskTypes']['create'];
export type TaskTypeUpdateInput = RouterInputs['taskTypes']['update'];
export type TaskClaimInput = RouterInputs['tasks']['claim'];
export type TaskExchangeInput = RouterInputs['tasks']['exchange'];
/** The filters of live events (`tasks.events`), and the id to resume after. */
export type TaskEventsInput = RouterInputs['tasks']['events'];
/** Something that happened to a task, as live events stream it (`tasks.events`). */
export type TaskChange = RouterOutputs['tasks']['events'] extends AsyncIterable<{ data: infer C }> ? C : never;

export interface PrismqClientOptions {
  /** The server's base URL, e.g. `http://localhost:8000`. */
  url: string;
  /** An API token (`pnpm tokens create`), sent as `Authorization: Bearer <token>`. */
  token?: string;
  /** Headers sent with every request, or a function that returns them (called per request). */
  headers?: HTTPHeaders | (() => HTTPHeaders | Promise<HTTPHeaders>);
  /** A fetch implementation, if not the global one. */
  fetch?: typeof fetch;
  /**
   * Send calls made in the same tick as one HTTP request (default true). Claims and exchanges
   * always travel alone: a long poll would hold up the calls batched with it.
   */
  batch?: boolean;
}

export type PrismqClient = ReturnType<typeof createTRPCClient<AppRouter>>;

/** Calls per batched request, and the longest URL a batch of queries may make. */
const MAX_BATCH_ITEMS = 100;
const MAX_URL_LENGTH = 8000;

/** Creates a client whose procedures, inputs and results are typed from the server's router. */
export function createPrismqClient(options: PrismqClientOptions): PrismqClient {
  const { token, headers = {} } = options;
  const linkOptions = {
    url: `${options.url.replace(/\/+$/, '')}/trpc`,
    headers: async (): Promise<HTTPHeaders> => {
      const base = typeof headers === 'function' ? await headers() : headers;
      return token ? { ...base, authorization: `Bearer ${token}` } : base;
    },
    ...(options.fetch ? { fetch: options.fetch } : {}),
  };
  const alone = httpLink(linkOptions);
  const calls =
    options.batch === false
      ? alone
      : splitLink({
          // Calls that may wait: a wait would hold up the calls batched with it.
          condition: (op) =>
            op.path === 'tasks.claim' || op.path === 'tasks.exchange' || (op.path === 'tasks.get' && Boolean((op.input as { wait_seconds?: number } | undefined)?.wait_seconds)),
          true: alone,
          false: httpBatchLink({ ...linkOptions, maxItems: MAX_BATCH_ITEMS, maxURLLength: MAX_URL_LENGTH }),
        });
  return createTRPCClient<AppRouter>({
    links: [
      // Every error becomes its PrismqError class (errors.ts).
      errorLink(),
      splitLink({
        // Live events: server-sent events, over fetch so that the token travels as a header.
        condition: (op) => op.type === 'subscription',
        true: httpSubscriptionLink({
          url: linkOptions.url,
          EventSource: FetchEventSource,
          eventSourceOptions: (): FetchEventSourceInit => ({ headers: async () => (await linkOptions.headers()) as Record<string, string> }),
        }),
        false: calls,
      }),
    ],
  });
}

type ErrorData = inferRouterError<AppRouter>['data'];
/** What an API error says: its tRPC code, HTTP status and `detail` (a string, or for 422 a list of problems). */
export type PrismqErrorInfo = Pick<ErrorData, 'code' | 'httpStatus' | 'detail'>;

/** The `{ code, httpStatus, detail }` an API error carries, or undefined for other errors. */
export function errorInfo(error: unknown): PrismqErrorInfo | undefined {
  if (!(error instanceof TRPCClientError)) return undefined;
  const data = (error as TRPCClientError<AppRouter>).data;
  return data ? { code: data.code, httpStatus: data.httpStatus, detail: data.detail } : undefined;
}

export { TRPCClientError };
export * from './errors.js';
export * from './task-types.js';
export * from './wait.js';
