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
});

export interface Config {
  port: number;
  host: string;
  databasePath: string;
  logLevel: (typeof LOG_LEVELS)[number];
  production: boolean;
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
  return {
    port: e.PORT,
    host: e.HOST,
    databasePath: e.DATABASE_URL ?? defaultDatabasePath(),
    logLevel: e.LOG_LEVEL,
    production: e.NODE_ENV === 'production',
  };
}
