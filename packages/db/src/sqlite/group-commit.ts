import type Database from 'better-sqlite3';
import { StorageError } from '../errors.js';
import { storageErrorOf, type DatabaseFile } from './storage.js';

interface Pending {
  work: () => unknown;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

export interface GroupCommitOptions {
  /** The database file, checked before each COMMIT to be still the one opened; absent in memory. */
  file?: DatabaseFile | undefined;
  /**
   * Told after each group how the storage held up: the StorageError that failed some or all of
   * its writes, or null when at least one write committed and none failed for storage.
   */
  onStorage?: (failure: StorageError | null) => void;
}

/**
 * Group commit: the writes asked for in one turn of the event loop run in one IMMEDIATE
 * transaction, each inside its own savepoint, and are acknowledged together after a single
 * COMMIT, so that concurrent requests share one fsync instead of paying one each.
 *
 * - Nothing is acknowledged before the COMMIT that makes it durable returns.
 * - A write that throws rolls back to its savepoint only; the others in the group still commit.
 * - If BEGIN or COMMIT fails (the disk is full, another process held the lock past the busy
 *   timeout), the whole group is rolled back and every write in it is rejected with that error.
 * - If the file at the database's path is no longer the one opened (deleted or replaced under the
 *   running server), the group is rolled back too: its writes would be lost at the next start.
 * - Storage failures (a full disk, an I/O error, a lock held past the busy timeout, the file
 *   gone) are rejected as StorageError, whether they fail one write or the group; other errors
 *   as they were thrown.
 *
 * Writes run in the order they were asked for. Reads need no queue: they run at once and see
 * what has been committed.
 */
export class GroupCommit {
  private pending: Pending[] = [];
  private scheduled = false;
  private readonly begin: Database.Statement;
  private readonly commit: Database.Statement;
  private readonly rollback: Database.Statement;
  private readonly path: string;

  /**
   * `beforeCommit` runs inside the transaction after the group's writes (and must not throw);
   * the function it returns, if any, runs once the COMMIT has returned, before the writes are
   * acknowledged. It is how waiting claims take the tasks a group created in the same commit.
   */
  constructor(
    private readonly client: Database.Database,
    private readonly beforeCommit?: () => (() => void) | undefined,
    private readonly options: GroupCommitOptions = {},
  ) {
    this.begin = client.prepare('BEGIN IMMEDIATE');
    this.commit = client.prepare('COMMIT');
    this.rollback = client.prepare('ROLLBACK');
    this.path = options.file?.path ?? client.name;
  }

  /** A storage failure as a StorageError; any other error as it is. */
  private translate(error: unknown): unknown {
    return storageErrorOf(error, this.path) ?? error;
  }

  /** Runs `work` (synchronous SQL) in the next group; resolves with its value once committed. */
  run<T>(work: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.pending.push({ work, resolve: resolve as (value: unknown) => void, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        // After the current poll phase: every request read from the sockets in it joins the group.
        setImmediate(() => this.flush());
      }
    });
  }

  /**
   * Runs and commits everything queued so far; called by the scheduler, and on close. Never
   * throws: returns the error that failed the group as a whole (every write in it was rejected
   * with it), if one did.
   */
  flush(): unknown {
    this.scheduled = false;
    const group = this.pending;
    if (group.length === 0) return undefined;
    this.pending = [];
    const outcomes: ({ ok: true; value: unknown } | { ok: false; error: unknown })[] = [];
    let afterCommit: (() => void) | undefined;
    try {
      this.begin.run();
      try {
        for (const { work } of group) {
          try {
            // Nested inside the open transaction, better-sqlite3 runs this as a savepoint.
            outcomes.push({ ok: true, value: this.client.transaction(work)() });
          } catch (error) {
            // An I/O error or a full disk may have made SQLite roll back the whole transaction:
            // then the writes before this one are gone too, and nothing of the group commits.
            if (!this.client.inTransaction) throw error;
            outcomes.push({ ok: false, error: this.translate(error) });
          }
        }
        afterCommit = this.beforeCommit?.();
        const moved = this.options.file?.check();
        if (moved) throw moved;
        this.commit.run();
      } catch (error) {
        try {
          if (this.client.inTransaction) this.rollback.run();
        } catch {
          // The connection rolls back by itself when it cannot go on; the group fails either way.
        }
        throw error;
      }
    } catch (error) {
      const failure = this.translate(error);
      for (const { reject } of group) reject(failure);
      if (failure instanceof StorageError) this.options.onStorage?.(failure);
      return failure;
    }
    afterCommit?.();
    let storage: StorageError | null | undefined;
    group.forEach(({ resolve, reject }, index) => {
      const outcome = outcomes[index]!;
      if (outcome.ok) resolve(outcome.value);
      else reject(outcome.error);
      if (outcome.ok) storage ??= null;
      else if (outcome.error instanceof StorageError && !storage) storage = outcome.error;
    });
    if (storage !== undefined) this.options.onStorage?.(storage);
    return undefined;
  }
}
