/**
 * `@prismq/client` as Node.js loads it (the package's "node" export condition): the same API as
 * ./index.ts, whose calls go over node:http keep-alive connections (./node-fetch.ts) unless a
 * `fetch` is given, rather than through the global fetch, which cost several times the CPU per
 * call. Browsers, bundlers for the web and edge runtimes get ./index.ts, which imports no Node.js
 * module.
 */
import { createPrismqClient as createWithFetch, type PrismqClient, type PrismqClientOptions } from './index.js';
import { createNodeFetch } from './node-fetch.js';

export * from './index.js';

/** One pool of connections for the clients of this process that bring no fetch of their own. */
let shared: typeof fetch | undefined;

/** Creates a client whose procedures, inputs and results are typed from the server's router. */
export function createPrismqClient(options: PrismqClientOptions): PrismqClient {
  return createWithFetch({ ...options, fetch: options.fetch ?? (shared ??= createNodeFetch()) });
}
