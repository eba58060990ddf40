import { resolve } from 'node:path';
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
    // Accept `sqlite:` / `file:` URL forms as well as a plain path.
    .transform((value) => value.replace(/^(sqlite|file):(\/\/)?/, ''))
    .optional(),
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
});

export interface Config {
  port: number;
  host: string;
  databasePath: string;
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
  /** Where the command was run: relative paths given by the user are resolved against it. */
  workingDirectory: string;
}

export class ConfigError extends Error {}

/**
 * Reads the configuration from an environment once, at start-up. The rest of the server takes the
 * resulting object and never looks at process.env.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  // An empty variable counts as unset, as shells and .env files commonly leave them.
  const present = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== ''));
  const parsed = EnvSchema.safeParse(present);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const name = String(issue.path[0]);
    throw new ConfigError(`Invalid ${name}=${JSON.stringify(env[name])}: ${issue.message}`);
  }
  const e = parsed.data;
  // pnpm runs scripts inside the package folder and says where the command was run in INIT_CWD.
  const workingDirectory = env.INIT_CWD ?? process.cwd();
  return {
    port: e.PORT,
    host: e.HOST,
    databasePath: e.DATABASE_URL ? resolve(workingDirectory, e.DATABASE_URL) : defaultDatabasePath(),
    logLevel: e.LOG_LEVEL,
    production: e.NODE_ENV === 'production',
    auth: e.AUTH,
    bodyLimit: e.BODY_LIMIT,
    corsOrigins: e.CORS_ORIGINS,
    maxLongPolls: e.MAX_LONG_POLLS,
    retentionDays: e.RETENTION_DAYS,
    workingDirectory,
  };
}

/** True for addresses that only this machine can reach. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}
