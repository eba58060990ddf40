/**
 * Where the CLI connects and with which token: the `--url` and `--token` options, else the
 * environment (`PRISMQ_URL`, `PRISMQ_TOKEN`), read once at start-up, else the default URL.
 */
import { createPrismqClient, type PrismqClient } from '@prismq/client';

export const DEFAULT_URL = 'http://127.0.0.1:8000';

/** What the CLI takes from the environment: read once, in main, and passed down from there. */
export interface Environment {
  url: string | undefined;
  token: string | undefined;
}

export function readEnvironment(env: NodeJS.ProcessEnv): Environment {
  // An empty variable counts as unset, as `PRISMQ_TOKEN= prismq …` means.
  return { url: env.PRISMQ_URL || undefined, token: env.PRISMQ_TOKEN || undefined };
}

/** The options every command takes (defined on the program, shown in each command's help). */
export interface GlobalOptions {
  url?: string;
  token?: string;
  json?: boolean;
}

export interface Config {
  /** The server's base URL, e.g. `http://127.0.0.1:8000`. */
  url: string;
  token: string | undefined;
  /** Machine output: one JSON document (JSON lines for `events`) instead of tables. */
  json: boolean;
}

/** A value given on the command line that cannot be used: reported as a usage error (exit 2). */
export class UsageError extends Error {
  override name = 'UsageError';
}

export function resolveConfig(options: GlobalOptions, environment: Environment): Config {
  const url = options.url ?? environment.url ?? DEFAULT_URL;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new UsageError(`the server URL '${url}' is not a URL (give e.g. --url ${DEFAULT_URL}, or set PRISMQ_URL)`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new UsageError(`the server URL '${url}' must start with http:// or https://`);
  }
  return { url: url.replace(/\/+$/, ''), token: options.token || environment.token, json: options.json ?? false };
}

/** The URL as shown in messages and generated files: without any user name or password in it. */
export function displayUrl(url: string): string {
  const parsed = new URL(url);
  parsed.username = '';
  parsed.password = '';
  return parsed.toString().replace(/\/+$/, '');
}

export interface Session {
  config: Config;
  client: PrismqClient;
}

export function openSession(options: GlobalOptions, environment: Environment): Session {
  const config = resolveConfig(options, environment);
  return { config, client: createPrismqClient({ url: config.url, token: config.token }) };
}
