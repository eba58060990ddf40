import { resolve } from 'node:path';
import { isPostgresUrl, sqlitePathOf } from '@prismq/db';
import { z } from 'zod';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** Where the database lives when DATABASE_URL is not set, as the original service had it. */
export function defaultDatabasePath(platform: NodeJS.Platform = process.platform): string {
  return platform === 'win32' ? 'C:\\Data\\PrismQ\\api\\api.db' : '/tmp/prismq/api/api.db';
}

const EnvSchema = z.object({
  PORT: z.coerce
    .number({ error: 'must be a number' })
    .int('must be a whole number')
    .min(0, 'must be between 0 and 65535')
    .max(65535, 'must be between 0 and 65535')
    .default(8000),
  HOST: z.string().trim().min(1, 'must not be empty').default('127.0.0.1'),
  DATABASE_URL: z
    .string()
    .trim()
    .min(1, 'must not be empty')
    // A PostgreSQL URL as it is; for SQLite, `sqlite:` / `file:` URL forms as well as a plain path.
    .transform((value) => (isPostgresUrl(value) ? value : sqlitePathOf(value)))
    .optional(),
  DATABASE_POOL_SIZE: z.coerce
    .number({ error: 'must be a number of connections' })
    .int('must be a whole number of connections')
    .min(1, 'must be at least 1')
    .max(1000, 'must be at most 1000')
    .default(10),
  LOG_LEVEL: z.enum(LOG_LEVELS, { error: `must be one of ${LOG_LEVELS.join(', ')}` }).default('info'),
  NODE_ENV: z.string().default('development'),
  AUTH: z.enum(['auto', 'on', 'off'], { error: 'must be auto, on or off' }).default('auto'),
  BODY_LIMIT: z.coerce
    .number({ error: 'must be a number of bytes' })
    .int('must be a whole number of bytes')
    .min(1024, 'must be at least 1024 bytes')
    .max(100 * 1024 * 1024, 'must be at most 100 MiB')
    .default(1024 * 1024),
  CORS_ORIGINS: z
    .string()
    .transform((value) => value.split(',').map((origin) => origin.trim()).filter(Boolean))
    .pipe(z.array(z.url({ error: 'must be a comma-separated list of origins such as https://app.example.com' })))
    .default([]),
  MAX_LONG_POLLS: z.coerce.number({ error: 'must be a number' }).int('must be a whole number').min(0, 'must not be negative').default(1000),
  RETENTION_DAYS: z.coerce.number({ error: 'must be a number of days' }).positive('must be more than 0').optional(),
  EVENT_RETENTION_HOURS: z.coerce.number({ error: 'must be a number of hours' }).positive('must be more than 0').default(24),
  MAX_EVENT_STREAMS: z.coerce.number({ error: 'must be a number' }).int('must be a whole number').min(0, 'must not be negative').default(1000),
  HEADERS_TIMEOUT_MS: milliseconds(10_000),
  REQUEST_TIMEOUT_MS: milliseconds(30_000),
  KEEP_ALIVE_TIMEOUT_MS: milliseconds(5_000),
  MAX_CONNECTIONS: z.coerce.number({ error: 'must be a number' }).int('must be a whole number').min(1, 'must be at least 1').default(10_000),
  BODY_MEMORY_LIMIT: z.coerce
    .number({ error: 'must be a number of bytes' })
    .int('must be a whole number of bytes')
    .min(1024, 'must be at least 1024 bytes')
    .default(64 * 1024 * 1024),
  VALIDATION_TIMEOUT_MS: milliseconds(1_000),
});

/** The environment variables the server reads, as the README's Configuration table lists them. */
export const CONFIG_VARIABLES = Object.keys(EnvSchema.shape) as (keyof typeof EnvSchema.shape)[];

/** A duration in milliseconds, at least 100 ms and at most an hour. */
function milliseconds(fallback: number) {
  return z.coerce
    .number({ error: 'must be a number of milliseconds' })
    .int('must be a whole number of milliseconds')
    .min(100, 'must be at least 100 ms')
    .max(3_600_000, 'must be at most 3600000 ms (an hour)')
    .default(fallback);
}

export interface Config {
  port: number;
  host: string;
  /** The SQLite file (an absolute path), or the PostgreSQL URL (`postgres://…`) as given. */
  databasePath: string;
  /** Connections to PostgreSQL at most, per server (besides the one that listens for notifications). */
  databasePoolSize: number;
  logLevel: (typeof LOG_LEVELS)[number];
  production: boolean;
  /** `auto`: required once a token exists, and always when HOST is not a loopback address. */
  auth: 'auto' | 'on' | 'off';
  /** Largest request body in bytes. */
  bodyLimit: number;
  /** Origins allowed by CORS; none means CORS stays off. */
  corsOrigins: string[];
  /** Claims that may wait at once; more answer 429. */
  maxLongPolls: number;
  /** Finished tasks older than this many days are deleted; undefined keeps them. */
  retentionDays: number | undefined;
  /** Changes in the log of changes (live events) older than this many hours are deleted. */
  eventRetentionHours: number;
  /** Live event streams open at once at most; more answer 429. */
  maxEventStreams: number;
  /** Where the command was run: relative paths given by the user are resolved against it. */
  workingDirectory: string;
  /** How long a client may take to send a request's headers, in milliseconds. */
  headersTimeoutMs: number;
  /** How long a client may take to send a whole request (headers and body), in milliseconds. */
  requestTimeoutMs: number;
  /** How long an idle keep-alive connection stays open between requests, in milliseconds. */
  keepAliveTimeoutMs: number;
  /** Open connections at most; more are closed as they arrive. */
  maxConnections: number;
  /** Request-body bytes held in memory at once across all connections; more answer 503. */
  bodyMemoryLimit: number;
  /** Longest a task's parameters may take to validate, or a schema to compile, in milliseconds. */
  validationTimeoutMs: number;
}

export class ConfigError extends Error {}

/**
 * Reads the configuration from an environment once, at start-up. The rest of the server takes the
 * resulting object and never looks at process.env.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const e = parseEnv(EnvSchema, env);
  // Node refuses a headers timeout longer than the whole request's.
  if (e.HEADERS_TIMEOUT_MS > e.REQUEST_TIMEOUT_MS) {
    throw new ConfigError(
      `Invalid HEADERS_TIMEOUT_MS=${e.HEADERS_TIMEOUT_MS}: must not be more than REQUEST_TIMEOUT_MS (${e.REQUEST_TIMEOUT_MS})`,
    );
  }
  const workingDirectory = workingDirectoryOf(env);
  return {
    port: e.PORT,
    host: e.HOST,
    databasePath: databasePathOf(e.DATABASE_URL, workingDirectory),
    databasePoolSize: e.DATABASE_POOL_SIZE,
    logLevel: e.LOG_LEVEL,
    production: e.NODE_ENV === 'production',
    auth: e.AUTH,
    bodyLimit: e.BODY_LIMIT,
    corsOrigins: e.CORS_ORIGINS,
    maxLongPolls: e.MAX_LONG_POLLS,
    retentionDays: e.RETENTION_DAYS,
    eventRetentionHours: e.EVENT_RETENTION_HOURS,
    maxEventStreams: e.MAX_EVENT_STREAMS,
    workingDirectory,
    headersTimeoutMs: e.HEADERS_TIMEOUT_MS,
    requestTimeoutMs: e.REQUEST_TIMEOUT_MS,
    keepAliveTimeoutMs: e.KEEP_ALIVE_TIMEOUT_MS,
    maxConnections: e.MAX_CONNECTIONS,
    bodyMemoryLimit: e.BODY_MEMORY_LIMIT,
    validationTimeoutMs: e.VALIDATION_TIMEOUT_MS,
  };
}

/** What the database commands (`tokens`, `db:migrate`, `db:backup`) read: DATABASE_URL alone, not the server's other variables. */
export type DatabaseConfig = Pick<Config, 'databasePath' | 'workingDirectory'>;

/** Reads DATABASE_URL once, for a database command; the server's other variables are neither read nor checked. */
export function loadDatabaseConfig(env: NodeJS.ProcessEnv = process.env): DatabaseConfig {
  const e = parseEnv(EnvSchema.pick({ DATABASE_URL: true }), env);
  const workingDirectory = workingDirectoryOf(env);
  return { databasePath: databasePathOf(e.DATABASE_URL, workingDirectory), workingDirectory };
}

/** Parses the variables of `schema`, the first problem thrown as a ConfigError naming its variable. */
function parseEnv<S extends z.ZodType>(schema: S, env: NodeJS.ProcessEnv): z.output<S> {
  // An empty variable counts as unset, as shells and .env files commonly leave them.
  const present = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== ''));
  const parsed = schema.safeParse(present);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const name = String(issue.path[0]);
    throw new ConfigError(`Invalid ${name}=${JSON.stringify(env[name])}: ${issue.message}`);
  }
  return parsed.data;
}

/**
 * Where the command was run. npm and pnpm run scripts inside the package folder and say where
 * they were run in INIT_CWD. Under `npm start`, `pnpm start` and `pnpm dev`, though, turbo runs
 * the server's script through pnpm in apps/server, so INIT_CWD names apps/server; where turbo
 * was run (the repository root, where the root scripts run) is in its TURBO_INVOCATION_DIR.
 */
const workingDirectoryOf = (env: NodeJS.ProcessEnv): string => env.TURBO_INVOCATION_DIR ?? env.INIT_CWD ?? process.cwd();

/** DATABASE_URL as parsed: a PostgreSQL URL as given, a SQLite path from the working directory, or the default file. */
const databasePathOf = (url: string | undefined, workingDirectory: string): string =>
  !url ? defaultDatabasePath() : isPostgresUrl(url) ? url : resolve(workingDirectory, url);

/** True for addresses that only this machine can reach. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}
