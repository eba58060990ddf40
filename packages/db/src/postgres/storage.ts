/**
 * The PostgreSQL server failing, rather than the request: which driver and server errors stand
 * for a StorageError, and the probe write that tells when writes work again.
 */
import { randomBytes } from 'node:crypto';
import { StorageError, ValidationError } from '../errors.js';
import type { Queryable } from './client.js';

/** Errors of the connection itself (Node's, and the driver's own codes). */
const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'CONNECTION_CLOSED',
  'CONNECTION_ENDED',
  'CONNECTION_DESTROYED',
  'CONNECT_TIMEOUT',
]);

/**
 * SQLSTATEs that say the server cannot serve: a connection exception (08), insufficient
 * resources (53: the disk full, out of memory, too many connections), the server shutting down
 * or the database dropped (57P), an I/O or system error (58), damaged data (XX001, XX002), a
 * server that only reads (25006: a standby), and a database, role or password that do not let in.
 */
const SERVER_STATES = /^(08|53|57P|58|XX00[12]$|25006$|3D000$|28)/;

/** Where the server is, for messages: host, port and database, never the password. */
export function describeUrl(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.hostname || 'localhost'}:${parsed.port || '5432'}${parsed.pathname || ''}`;
  } catch {
    return 'the PostgreSQL server';
  }
}

const unavailable = (cause: string, code?: string, error?: unknown) =>
  new StorageError('unavailable', `The database is unavailable: ${cause}`, code, error);

/**
 * The StorageError that an error from the server at `where` (see describeUrl) stands for, or
 * undefined when it is not a storage failure (a constraint, a bug).
 */
export function storageErrorOf(error: unknown, where: string): StorageError | undefined {
  if (error instanceof StorageError) return error;
  if (!(error instanceof Error)) return undefined;
  const code = (error as { code?: unknown }).code;
  const said = `${error.message}${typeof code === 'string' ? ` (${code})` : ''}`;
  if (typeof code === 'string' && CONNECTION_CODES.has(code)) {
    return unavailable(`${said}: PostgreSQL at ${where} cannot be reached; check that it is running and reachable`, code, error);
  }
  if (typeof code !== 'string' || !/^[0-9A-Z]{5}$/.test(code) || !SERVER_STATES.test(code)) {
    // The driver's own words for a lost connection, when it gives no code.
    if (/^Connection terminated|connection error|timeout exceeded when trying to connect/i.test(error.message)) {
      return unavailable(`${error.message}: PostgreSQL at ${where} cannot be reached; check that it is running and reachable`, 'CONNECTION_CLOSED', error);
    }
    return undefined;
  }
  if (code === '53100') {
    return new StorageError('full', `The database disk is full: ${said} on PostgreSQL at ${where}; free space on its disk, then retry`, code, error);
  }
  if (code.startsWith('57P')) return unavailable(`${said}: PostgreSQL at ${where} is shutting down or restarting; retry`, code, error);
  if (code === '25006') return unavailable(`${said}: PostgreSQL at ${where} only reads (a standby?); point DATABASE_URL at the primary`, code, error);
  if (code.startsWith('XX')) return unavailable(`${said} on PostgreSQL at ${where}; its data is damaged: restore it from a backup`, code, error);
  return unavailable(`${said} on PostgreSQL at ${where}`, code, error);
}

/** Whether a StorageError is the loss of a connection (a new one may work): not a server that refuses or is full. */
export const isConnectionLost = (error: StorageError): boolean =>
  error.code !== undefined && (CONNECTION_CODES.has(error.code) || error.code.startsWith('08') || error.code === '57P01' || error.code === '57P02');

/** True for a unique constraint failing (SQLSTATE 23505). */
export function isUniqueViolation(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === '23505';
}

/** How much the storage probe writes: more than a page, so that it needs new space. */
const PROBE_BYTES = 16 * 1024;

/**
 * A small write that needs new space, for the health check after a write failed for storage: a
 * row of incompressible bytes into storage_probe, deleted again in the same transaction. It fails
 * while the database cannot grow (53100); its commit shows that writes commit again.
 */
export async function probeStorage(tx: Queryable): Promise<void> {
  await tx.query('INSERT INTO storage_probe (filler) VALUES (decode($1, \'hex\'))', [randomBytes(PROBE_BYTES).toString('hex')]);
  await tx.query('DELETE FROM storage_probe');
}

/**
 * PostgreSQL text cannot hold the NUL character (U+0000), which SQLite stores: a write of text
 * with one is refused as invalid input, naming the field, rather than failing in the server.
 */
export function refuseNul(fields: Record<string, string | null | undefined>, prefix: (string | number)[] = []): void {
  const problems = Object.entries(fields)
    .filter(([, value]) => typeof value === 'string' && value.includes('\0'))
    .map(([field]) => ({ path: [...prefix, field], message: 'must not contain the NUL character (U+0000)', type: 'string.nul' }));
  if (problems.length) throw new ValidationError(problems);
}

/** A lookup by text that cannot match anything stored: it holds a NUL (see refuseNul). */
export const unstorable = (value: string): boolean => value.includes('\0');
