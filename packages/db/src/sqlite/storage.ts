import { readFileSync, statfsSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type Database from 'better-sqlite3';
import { StorageError } from '../errors.js';

/**
 * SQLite result codes that say the storage failed, not the request: the disk or a file limit is
 * full, the files cannot be read, written or opened, they are damaged, or another process held
 * the lock past the busy timeout. Extended codes (`SQLITE_IOERR_WRITE`) start with these.
 */
const STORAGE_CODES = /^SQLITE_(FULL|IOERR|CANTOPEN|READONLY|CORRUPT|NOTADB|PERM|BUSY)(_|$)/;

/** I/O errors that may mean the disk (or a quota, or the file size limit) is full: SQLite says SQLITE_FULL only for ENOSPC. */
const WRITE_CODES = /^SQLITE_IOERR(_(WRITE|FSYNC|TRUNCATE|SHMSIZE|DIR_FSYNC))?$/;

/** Below this much free space an I/O error writing is taken for a full disk. */
const NEARLY_FULL_BYTES = 1024 * 1024;

const unavailable = (cause: string, code?: string, error?: unknown) =>
  new StorageError('unavailable', `The database is unavailable: ${cause}`, code, error);
const full = (cause: string, code?: string, error?: unknown) => new StorageError('full', `The database disk is full: ${cause}`, code, error);

/**
 * The StorageError that a SQLite error on the database at `path` stands for, or undefined when
 * it is not a storage failure (a constraint, a bug). Only called once something failed: it may
 * look at the file system to tell a full disk from a broken one.
 */
export function storageErrorOf(error: unknown, path: string): StorageError | undefined {
  if (error instanceof StorageError) return error;
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code !== 'string' || !STORAGE_CODES.test(code)) return undefined;
  const said = `${(error as Error).message} (${code})`;
  if (code === 'SQLITE_FULL') return full(`${said} writing ${path}; free space on its file system, then retry`, code, error);
  if (WRITE_CODES.test(code)) {
    const limit = fileSizeLimitReached(path);
    if (limit !== undefined) {
      return full(`${said} writing ${path}: the server's file size limit (ulimit -f) of ${limit} bytes is reached; raise it`, code, error);
    }
    const free = freeBytes(path);
    if (free !== undefined && free < NEARLY_FULL_BYTES) {
      return full(`${said} writing ${path}, whose file system has ${free} bytes free; free space on it, then retry`, code, error);
    }
    return unavailable(`${said} on ${path}; check its disk`, code, error);
  }
  if (code === 'SQLITE_READONLY_DBMOVED') return gone(path, code, error);
  if (code.startsWith('SQLITE_READONLY') || code === 'SQLITE_PERM') {
    return unavailable(`${said}: ${path} cannot be written; check the permissions of it, its -wal and -shm files and its folder`, code, error);
  }
  if (code.startsWith('SQLITE_CANTOPEN')) return unavailable(`${said}: ${path} or its -wal or -shm file cannot be opened`, code, error);
  if (code.startsWith('SQLITE_CORRUPT') || code === 'SQLITE_NOTADB') {
    return unavailable(`${said}: ${path} is damaged or not a database; restore it from a backup`, code, error);
  }
  if (code.startsWith('SQLITE_BUSY')) return unavailable(`${said}: another process held its lock past the busy timeout; retry`, code, error);
  return unavailable(`${said} on ${path}; check its disk`, code, error);
}

/** The error for a database whose file is no longer at its path. */
function gone(path: string, code = 'ENOENT', error?: unknown): StorageError {
  return unavailable(
    `the database file ${path} was deleted or replaced while the server was running; restore it or restart the server`,
    code,
    error,
  );
}

/** Bytes free for this process on the file system of `path`, if it can be told. */
function freeBytes(path: string): number | undefined {
  try {
    const { bavail, bsize } = statfsSync(dirname(path));
    return bavail * bsize;
  } catch {
    return undefined;
  }
}

/**
 * The process's file size limit (`ulimit -f`, which makes writes past it fail with EFBIG) when
 * the database file or its WAL is within reach of it; undefined when there is no limit, it is
 * far, or it cannot be read (only Linux tells it, in /proc/self/limits).
 */
function fileSizeLimitReached(path: string): number | undefined {
  let limit: number;
  try {
    const line = /^Max file size\s+(\S+)/m.exec(readFileSync('/proc/self/limits', 'utf8'))?.[1];
    if (!line || !/^\d+$/.test(line)) return undefined;
    limit = Number(line);
  } catch {
    return undefined;
  }
  // A write that fails goes past the limit by at most a WAL frame or two.
  const near = [path, `${path}-wal`].some((file) => (statSync(file, { throwIfNoEntry: false })?.size ?? 0) + 65_536 > limit);
  return near ? limit : undefined;
}

/**
 * The database file as it was opened, to notice when the file at its path is deleted or replaced
 * under a running server. The open connection would go on reading and writing the old file (its
 * inode lives on while open), and every write acknowledged from then on would be lost at the
 * next start. Checked by the group commit before each COMMIT: one stat per group.
 */
export class DatabaseFile {
  private constructor(
    readonly path: string,
    private readonly dev: bigint,
    private readonly ino: bigint,
  ) {}

  /** Right after opening: the file the connection has; undefined for an in-memory or temporary database. */
  static of(client: Database.Database): DatabaseFile | undefined {
    if (client.memory || client.name === '') return undefined;
    const path = resolve(client.name);
    const { dev, ino } = statSync(path, { bigint: true });
    return new DatabaseFile(path, dev, ino);
  }

  /** Undefined while the file at the path is the one opened; else the StorageError that says it is not. */
  check(): StorageError | undefined {
    let now;
    try {
      now = statSync(this.path, { bigint: true, throwIfNoEntry: false });
    } catch (error) {
      return unavailable(`${this.path} cannot be looked at (${(error as Error).message})`, (error as { code?: string }).code, error);
    }
    if (now && now.dev === this.dev && now.ino === this.ino) return undefined;
    return gone(this.path, now ? 'REPLACED' : 'ENOENT');
  }
}

/**
 * A small write that needs a page the database does not have free, for the health check after a
 * write failed for lack of room: a row of one page into `storage_probe` (migration 0005), deleted
 * again at once. It fails while the database cannot grow (SQLITE_FULL, a full WAL); run in the
 * group commit, its commit also shows that the WAL can be written and the file is still there.
 */
export function probeStorage(client: Database.Database): void {
  const pageSize = client.pragma('page_size', { simple: true }) as number;
  client.prepare('INSERT INTO storage_probe (filler) VALUES (zeroblob(?))').run(pageSize);
  client.prepare('DELETE FROM storage_probe').run();
}
