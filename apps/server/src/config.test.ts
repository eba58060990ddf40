import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CONFIG_VARIABLES, defaultDatabasePath, isLoopback, loadConfig } from './config.js';

describe('loadConfig', () => {
  it('has the documented defaults', () => {
    expect(loadConfig({})).toEqual({
      port: 8000,
      host: '127.0.0.1',
      databasePath: defaultDatabasePath(),
      databasePoolSize: 10,
      logLevel: 'info',
      production: false,
      auth: 'auto',
      bodyLimit: 1024 * 1024,
      corsOrigins: [],
      maxLongPolls: 1000,
      retentionDays: undefined,
      workingDirectory: process.cwd(),
      headersTimeoutMs: 10_000,
      requestTimeoutMs: 30_000,
      keepAliveTimeoutMs: 5_000,
      maxConnections: 10_000,
      bodyMemoryLimit: 64 * 1024 * 1024,
      validationTimeoutMs: 1_000,
      eventRetentionHours: 24,
      maxEventStreams: 1000,
    });
  });

  it('tells loopback addresses apart', () => {
    for (const host of ['127.0.0.1', '127.1.2.3', 'localhost', '::1']) expect(isLoopback(host), host).toBe(true);
    for (const host of ['0.0.0.0', '::', '192.168.1.5', '10.0.0.1', 'example.com']) expect(isLoopback(host), host).toBe(false);
  });

  it('uses the original default database locations', () => {
    expect(defaultDatabasePath('linux')).toBe('/tmp/prismq/api/api.db');
    expect(defaultDatabasePath('darwin')).toBe('/tmp/prismq/api/api.db');
    expect(defaultDatabasePath('win32')).toBe('C:\\Data\\PrismQ\\api\\api.db');
  });

  it('reads every variable', () => {
    expect(
      loadConfig({
        PORT: '9001',
        HOST: '0.0.0.0',
        DATABASE_URL: '/var/lib/prismq.db',
        DATABASE_POOL_SIZE: '25',
        LOG_LEVEL: 'debug',
        NODE_ENV: 'production',
        AUTH: 'on',
        BODY_LIMIT: '2048',
        CORS_ORIGINS: 'https://a.example.com, https://b.example.com',
        MAX_LONG_POLLS: '10',
        RETENTION_DAYS: '7',
        EVENT_RETENTION_HOURS: '1.5',
        MAX_EVENT_STREAMS: '20',
        INIT_CWD: '/home/ops',
        HEADERS_TIMEOUT_MS: '2000',
        REQUEST_TIMEOUT_MS: '4000',
        KEEP_ALIVE_TIMEOUT_MS: '1500',
        MAX_CONNECTIONS: '500',
        BODY_MEMORY_LIMIT: '1048576',
        VALIDATION_TIMEOUT_MS: '250',
      }),
    ).toEqual({
      port: 9001,
      host: '0.0.0.0',
      databasePath: '/var/lib/prismq.db',
      databasePoolSize: 25,
      logLevel: 'debug',
      production: true,
      auth: 'on',
      bodyLimit: 2048,
      corsOrigins: ['https://a.example.com', 'https://b.example.com'],
      maxLongPolls: 10,
      retentionDays: 7,
      eventRetentionHours: 1.5,
      maxEventStreams: 20,
      workingDirectory: '/home/ops',
      headersTimeoutMs: 2000,
      requestTimeoutMs: 4000,
      keepAliveTimeoutMs: 1500,
      maxConnections: 500,
      bodyMemoryLimit: 1024 * 1024,
      validationTimeoutMs: 250,
    });
  });

  it('accepts sqlite: and file: URLs for DATABASE_URL', () => {
    expect(loadConfig({ DATABASE_URL: 'sqlite:///srv/q.db' }).databasePath).toBe('/srv/q.db');
    expect(loadConfig({ DATABASE_URL: 'file:data/q.db', INIT_CWD: '/srv' }).databasePath).toBe('/srv/data/q.db');
  });

  it('passes a PostgreSQL URL for DATABASE_URL through as it is', () => {
    for (const url of ['postgres://prismq:secret@db.internal:5432/queue', 'postgresql://localhost/queue?sslmode=require']) {
      expect(loadConfig({ DATABASE_URL: url, INIT_CWD: '/srv' }).databasePath).toBe(url);
    }
  });

  it('resolves a relative path against where turbo was run, when turbo runs the server (npm start, pnpm start, pnpm dev)', () => {
    // turbo runs the start script through pnpm in apps/server, and pnpm sets INIT_CWD to that folder.
    const underTurbo = { DATABASE_URL: 'data/q.db', INIT_CWD: '/repo/apps/server', TURBO_INVOCATION_DIR: '/repo' };
    expect(loadConfig(underTurbo)).toMatchObject({ databasePath: '/repo/data/q.db', workingDirectory: '/repo' });
  });

  it('treats an empty variable as unset', () => {
    expect(loadConfig({ PORT: '', LOG_LEVEL: '' })).toMatchObject({ port: 8000, logLevel: 'info' });
  });

  it.each([
    [{ PORT: 'eighty' }, /^Invalid PORT="eighty": /],
    [{ PORT: '70000' }, /^Invalid PORT="70000": must be between 0 and 65535$/],
    [{ PORT: '80.5' }, /^Invalid PORT="80.5": must be a whole number$/],
    [{ LOG_LEVEL: 'loud' }, /^Invalid LOG_LEVEL="loud": must be one of fatal, error/],
    [{ HOST: "   " }, /^Invalid HOST=" {3}": must not be empty$/],
    [{ AUTH: 'maybe' }, /^Invalid AUTH="maybe": must be auto, on or off$/],
    [{ BODY_LIMIT: '10' }, /^Invalid BODY_LIMIT="10": must be at least 1024 bytes$/],
    [{ CORS_ORIGINS: 'not a url' }, /^Invalid CORS_ORIGINS="not a url": /],
    [{ RETENTION_DAYS: '0' }, /^Invalid RETENTION_DAYS="0": must be more than 0$/],
    [{ EVENT_RETENTION_HOURS: '0' }, /^Invalid EVENT_RETENTION_HOURS="0": must be more than 0$/],
    [{ MAX_EVENT_STREAMS: 'many' }, /^Invalid MAX_EVENT_STREAMS="many": must be a number$/],
    [{ HEADERS_TIMEOUT_MS: '50' }, /^Invalid HEADERS_TIMEOUT_MS="50": must be at least 100 ms$/],
    [{ HEADERS_TIMEOUT_MS: '40000' }, /^Invalid HEADERS_TIMEOUT_MS=40000: must not be more than REQUEST_TIMEOUT_MS \(30000\)$/],
    [{ MAX_CONNECTIONS: '0' }, /^Invalid MAX_CONNECTIONS="0": must be at least 1$/],
    [{ DATABASE_POOL_SIZE: '0' }, /^Invalid DATABASE_POOL_SIZE="0": must be at least 1$/],
    [{ BODY_MEMORY_LIMIT: 'lots' }, /^Invalid BODY_MEMORY_LIMIT="lots": must be a number of bytes$/],
  ])('rejects %j with a one-line message naming the variable', (env, message) => {
    expect(() => loadConfig(env)).toThrow(message);
  });
});

describe('the configuration variables', () => {
  const root = new URL('../../../', import.meta.url);
  const readme = readFileSync(new URL('README.md', root), 'utf8');
  const turbo = JSON.parse(readFileSync(new URL('turbo.json', root), 'utf8')) as { tasks: Record<string, { passThroughEnv?: string[] }> };
  const sorted = (names: readonly string[]) => [...names].sort();

  it('are the ones the README documents in its Configuration table, no more and no fewer', () => {
    const section = readme.split(/^## /m).find((part) => part.startsWith('Configuration\n'));
    expect(section, 'the README has a "## Configuration" section').toBeDefined();
    const documented = [...section!.matchAll(/^\| `([A-Z][A-Z0-9_]*)` \|/gm)].map((match) => match[1]!);
    expect(sorted(documented)).toEqual(sorted(CONFIG_VARIABLES));
  });

  // In strict env mode turbo gives a task only the variables it lists: one left out is silently ignored.
  it.each(['start', 'dev'])('all reach the server under turbo: its %s task passes each through', (task) => {
    expect(sorted(turbo.tasks[task]?.passThroughEnv ?? [])).toEqual(expect.arrayContaining(sorted(CONFIG_VARIABLES)));
  });
});
