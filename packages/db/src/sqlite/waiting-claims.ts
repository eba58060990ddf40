import type { ClaimRequest, WaitingClaim } from '../store.js';
import type { SqliteDb } from './database.js';
import * as queue from './queue.js';

interface Waiter extends WaitingClaim {
  request: ClaimRequest;
  /** The generation when it started waiting: below the current one once `serve` has seen it. */
  since: number;
}

/** What a claim run for waiters did, reported once it is committed. */
export type HandOff = ReturnType<typeof queue.claimTasks>;

/**
 * Claims that wait for work (long polls), served inside the transaction that makes the work
 * claimable, so that a waiting worker gets a new task with the create's own commit, not one
 * event-loop turn and one fsync later.
 *
 * A write that makes tasks claimable notes their type (`offer`). Before its group commits,
 * `serve` runs the claim of each waiter that wants one of those types, oldest first, in the
 * same transaction; the tasks each one leased are handed to it once the COMMIT has returned,
 * and it stops waiting. Nothing is handed over from a group that does not commit: its waiters
 * keep waiting. A claim that comes back short has taken every claimable task of its types, so
 * later waiters that want only those types are not asked.
 *
 * Waking: after such a group, only waiters that `serve` has not seen (those that started waiting
 * since) need to look again (`wake(true)`): every other one was offered the new tasks or has
 * nothing to take. Tasks that become claimable without an offer (a lease expiring, a retry's
 * backoff) wake every waiter (`wake(false)`). A waiter is told once, claimed or woken, and is
 * then forgotten. This is what keeps a hundred idle workers from all claiming again on every
 * create.
 */
export class WaitingClaims {
  /** In the order they started waiting. */
  private readonly waiters = new Set<Waiter>();
  private offered = new Set<number>();
  /** Counts `serve` runs: a waiter with `since` below it has been seen by the latest one. */
  private generation = 0;

  constructor(
    private readonly db: SqliteDb,
    /** Told of every claim `serve` ran (its leases and the expired leases it ended), once committed. */
    private readonly committed: (handOff: HandOff) => void,
  ) {}

  /** Adds a waiter; the function returned removes it (a no-op once it has been told). */
  add(request: ClaimRequest, callbacks: WaitingClaim): () => void {
    const waiter: Waiter = { claimed: callbacks.claimed, woken: callbacks.woken, request, since: this.generation };
    this.waiters.add(waiter);
    return () => this.waiters.delete(waiter);
  }

  /**
   * After a commit that may have made tasks claimable: wakes the waiters that should claim again,
   * those not seen by the latest `serve` when `offeredToAll` (its writes offered their tasks,
   * and it ran in the same flush), else all.
   */
  wake(offeredToAll: boolean): void {
    for (const waiter of [...this.waiters]) {
      if (offeredToAll && waiter.since < this.generation) continue;
      this.waiters.delete(waiter);
      waiter.woken();
    }
  }

  /** Called inside a write: tasks of this type may have become claimable. */
  offer(taskTypeId: number): void {
    if (this.waiters.size > 0) this.offered.add(taskTypeId);
  }

  /** The group-commit hook: runs the waiters' claims in the open transaction; see the class. */
  serve(): (() => void) | undefined {
    this.generation++;
    const offered = this.offered;
    this.offered = new Set();
    if (offered.size === 0 || this.waiters.size === 0) return undefined;
    const runs: [Waiter, HandOff | undefined][] = [];
    const exhausted = new Set<number>();
    // Workers of one fleet ask for the same types: their eligible types are looked up once.
    const eligibleByFilter = new Map<string, number[]>();
    for (const waiter of this.waiters) {
      const { task_type_ids, task_types } = waiter.request;
      const key = JSON.stringify([task_type_ids ?? null, task_types ?? null]);
      let eligible = eligibleByFilter.get(key);
      if (!eligible) eligibleByFilter.set(key, (eligible = queue.eligibleTypeIds(this.db, waiter.request)));
      const wanted = eligible.filter((id) => offered.has(id) && !exhausted.has(id));
      if (wanted.length === 0) continue;
      let run: HandOff;
      try {
        // A savepoint of its own: a claim that fails leaves the rest of the group as it was.
        run = this.db.$client.transaction(() => queue.claimTasks(this.db, waiter.request))();
      } catch {
        // Woken after the commit to claim again, and meet the error there.
        runs.push([waiter, undefined]);
        continue;
      }
      if (run.tasks.length < waiter.request.limit) for (const id of wanted) exhausted.add(id);
      runs.push([waiter, run]);
    }
    if (runs.length === 0) return undefined;
    return () => {
      for (const [waiter, run] of runs) {
        if (!run || run.tasks.length > 0) this.waiters.delete(waiter);
        if (!run) waiter.woken();
        else if (run.tasks.length > 0) waiter.claimed(run.tasks);
        if (run) this.committed(run);
      }
    };
  }
}
