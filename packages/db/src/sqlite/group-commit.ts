import type Database from 'better-sqlite3';

interface Pending {
  work: () => unknown;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
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

  /**
   * `beforeCommit` runs inside the transaction after the group's writes (and must not throw);
   * the function it returns, if any, runs once the COMMIT has returned, before the writes are
   * acknowledged. It is how waiting claims take the tasks a group created in the same commit.
   */
  constructor(
    private readonly client: Database.Database,
    private readonly beforeCommit?: () => (() => void) | undefined,
  ) {
    this.begin = client.prepare('BEGIN IMMEDIATE');
    this.commit = client.prepare('COMMIT');
    this.rollback = client.prepare('ROLLBACK');
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

  /** Runs and commits everything queued so far; called by the scheduler, and on close. */
  flush(): void {
    this.scheduled = false;
    const group = this.pending;
    if (group.length === 0) return;
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
            outcomes.push({ ok: false, error });
          }
        }
        afterCommit = this.beforeCommit?.();
        this.commit.run();
      } catch (error) {
        if (this.client.inTransaction) this.rollback.run();
        throw error;
      }
    } catch (error) {
      for (const { reject } of group) reject(error);
      return;
    }
    afterCommit?.();
    group.forEach(({ resolve, reject }, index) => {
      const outcome = outcomes[index]!;
      if (outcome.ok) resolve(outcome.value);
      else reject(outcome.error);
    });
  }
}
