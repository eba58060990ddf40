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
import { createTRPCClient, httpBatchLink, httpLink, splitLink, TRPCClientError, type HTTPHeaders } from '@trpc/client';
import type { inferRouterError, inferRouterInputs, inferRouterOutputs } from '@trpc/server';
import type { AppRouter } from '@prismq/api';

export type { AppRouter };
export type RouterInputs = inferRouterInputs<AppRouter>;
export type RouterOutputs = inferRouterOutputs<AppRouter>;
export type Task = RouterOutputs['tasks']['get'];
export type TaskType = RouterOutputs['taskTypes']['get'];
export type TaskStatus = Task['status'];
export type TaskCreateInput = RouterInputs['tasks']['create'];
export type TaskUpdateInput = RouterInputs['tasks']['update'];
export type TaskListInput = RouterInputs['tasks']['list'];
export type TaskTypeCreateInput = RouterInputs['taskTypes']['create'];
export type TaskTypeUpdateInput = RouterInputs['taskTypes']['update'];
export type TaskClaimInput = RouterInputs['tasks']['claim'];
export type TaskExchangeInput = RouterInputs['tasks']['exchange'];

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
  return createTRPCClient<AppRouter>({
    links: [
      options.batch === false
        ? alone
        : splitLink({
            condition: (op) => op.path === 'tasks.claim' || op.path === 'tasks.exchange',
            true: alone,
            false: httpBatchLink({ ...linkOptions, maxItems: MAX_BATCH_ITEMS, maxURLLength: MAX_URL_LENGTH }),
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
