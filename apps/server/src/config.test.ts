import { describe, expect, it } from 'vitest';
import { defaultDatabasePath, loadConfig } from './config.js';

describe('loadConfig', () => {
  it('has the documented defaults', () => {
    expect(loadConfig({})).toEqual({
      port: 8000,
      host: '127.0.0.1',
      databasePath: defaultDatabasePath(),
      logLevel: 'info',
      production: false,
    });
  });

  it('uses the original default database locations', () => {
    expect(defaultDatabasePath('linux')).toBe('/tmp/prismq/api/api.db');
    expect(defaultDatabasePath('darwin')).toBe('/tmp/prismq/api/api.db');
    expect(defaultDatabasePath('win32')).toBe('C:\\Data\\PrismQ\\api\\api.db');
  });

  it('reads every variable', () => {
    expect(
      loadConfig({ PORT: '9001', HOST: '0.0.0.0', DATABASE_URL: '/var/lib/prismq.db', LOG_LEVEL: 'debug', NODE_ENV: 'production' }),
    ).toEqual({ port: 9001, host: '0.0.0.0', databasePath: '/var/lib/prismq.db', logLevel: 'debug', production: true });
  });

  it('accepts sqlite: and file: URLs for DATABASE_URL', () => {
    expect(loadConfig({ DATABASE_URL: 'sqlite:///srv/q.db' }).databasePath).toBe('/srv/q.db');
    expect(loadConfig({ DATABASE_URL: 'file:data/q.db' }).databasePath).toBe('data/q.db');
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
  ])('rejects %j with a one-line message naming the variable', (env, message) => {
    expect(() => loadConfig(env)).toThrow(message);
  });
});
