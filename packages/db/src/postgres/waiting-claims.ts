import type { ClaimRequest, WaitingClaim } from '../store.js';
import type { Claimable } from './notify.js';

interface Waiter extends WaitingClaim {
  request: ClaimRequest;
}

/** A type that has become claimable: its name, when known, for claims that ask for types by name. */
export interface ClaimableType {
  id: number;
  name: string;
}

/** How often a store with claims waiting says so again in claim_listeners (see ./notify.ts). */
const RENEW_MS = 10_000;

/** How long a store goes without claims waiting before it takes itself off claim_listeners. */
const IDLE_MS = 30_000;

export interface WaitingClaimsOptions {
  /** How often, while claims wait, the store looks for claimable tasks that no notification told of, in milliseconds. */
  checkMs: number;
  /** Lists this store in claim_listeners: it has claims waiting, and writes are to notify. */
  list(): Promise<void>;
  /** Takes this store off claim_listeners. */
  unlist(): Promise<void>;
  /** The active types with claimable tasks now (due and pending, or with an expired lease and attempts left). */
  claimableTypes(): Promise<ClaimableType[]>;
  /** Told when the check woke some claims. */
  onWoken(): void;
}

/**
 * Claims that wait for work (long polls) on PostgreSQL. They are woken, not handed tasks: a write
 * that may have made tasks claimable (here, or in another replica, told by LISTEN/NOTIFY) wakes
 * the waiting claims that want their type, oldest first, as many as it made tasks claimable
 * (all of them when it does not say), and they claim again. A waiter is woken once, then
 * forgotten.
 *
 * Notifications are a hint: one lost (the listening connection down, a replica gone between its
 * commit and the delivery) would leave a claim waiting while a task is claimable. So while claims
 * wait, the store looks every `checkMs` which types have claimable tasks, and wakes every claim
 * that wants one of them: a lost notification delays a task by that much at most, never strands it.
 *
 * Writes notify only while some store has claims waiting (see ./notify.ts): this one lists itself
 * when its claims start to wait, and once listed, checks at once as above, for the writes that
 * committed without notifying just before. It says so again every RENEW_MS while claims wait,
 * and takes itself off after IDLE_MS without any.
 */
export class WaitingClaims {
  /** In the order they started waiting. */
  private readonly waiters = new Set<Waiter>();
  /** Type names by id, as learned (names never change): to tell which types a claim by name wants. */
  private readonly names = new Map<number, string>();
  private readonly timer: NodeJS.Timeout;
  private checking = false;
  /** A check was asked for while one ran: it runs again after. */
  private checkAgain = false;
  /** Whether this store is listed in claim_listeners, and since when. */
  private listedAt: number | undefined;
  /** When the last claim stopped waiting, while none waits. */
  private idleSince: number | undefined;
  /** Listing and unlisting, one after another. */
  private listing: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(private readonly options: WaitingClaimsOptions) {
    this.timer = setInterval(() => void this.check(), options.checkMs).unref();
  }

  /** Adds a waiter; the function returned removes it (a no-op once it has been woken). */
  add(request: ClaimRequest, callbacks: WaitingClaim): () => void {
    const waiter: Waiter = { claimed: callbacks.claimed, woken: callbacks.woken, request };
    this.waiters.add(waiter);
    this.idleSince = undefined;
    if (this.listedAt === undefined) this.list(true);
    return () => this.waiters.delete(waiter);
  }

  /** Lists this store (again); `first`: then checks at once for tasks that writes did not tell of. */
  private list(first: boolean): void {
    if (first) this.listedAt = Date.now(); // until it fails: one listing at a time
    this.listing = this.listing
      .then(() => this.options.list())
      .then(
        () => {
          this.listedAt = Date.now();
          if (first) void this.check();
        },
        () => {
          this.listedAt = undefined; // tried again by the next claim to wait, or the next check
        },
      );
  }

  /** After the listening connection came back, or the database restarted: listed again by the next claim that waits or check. */
  relist(): void {
    this.listedAt = undefined;
  }

  /** Remembers a type's name, for claims that ask for types by name. */
  learn(id: number, name: string): void {
    this.names.set(id, name);
  }

  /** Whether `waiter` may want tasks of type `id` (when its name is unknown, a claim by name may). */
  private wants({ request }: Waiter, id: number): boolean {
    if (request.task_type_ids === undefined && request.task_types === undefined) return true;
    if (request.task_type_ids?.includes(id)) return true;
    if (!request.task_types?.length) return false;
    const name = this.names.get(id);
    return name === undefined || request.task_types.includes(name);
  }

  /** Wakes the claims that want the types made claimable: as many as tasks were, oldest first, or all for a count of 0. */
  wake(claimable: Claimable): void {
    if (claimable === 'all') return this.wakeAll();
    for (const [id, count] of claimable) {
      let room = count === 0 ? Infinity : count;
      for (const waiter of [...this.waiters]) {
        if (room <= 0) break;
        if (!this.wants(waiter, id)) continue;
        room -= waiter.request.limit;
        this.waiters.delete(waiter);
        waiter.woken();
      }
    }
  }

  /** Wakes every waiting claim: anything may have become claimable (notifications may have been missed). */
  wakeAll(): void {
    for (const waiter of [...this.waiters]) {
      this.waiters.delete(waiter);
      waiter.woken();
    }
  }

  /** Keeps the listing: renewed while claims wait, removed once none has for IDLE_MS. */
  private keepListing(): void {
    const now = Date.now();
    if (this.waiters.size > 0) {
      if (this.listedAt === undefined) this.list(true);
      else if (now - this.listedAt > RENEW_MS) this.list(false);
      return;
    }
    if (this.listedAt === undefined) return;
    this.idleSince ??= now;
    if (now - this.idleSince < IDLE_MS) return;
    this.listedAt = undefined;
    this.idleSince = undefined;
    this.listing = this.listing.then(() => this.options.unlist()).catch(() => {});
  }

  /** The bounded fallback: wakes the claims that want a type with claimable tasks. */
  async check(): Promise<void> {
    if (this.closed) return;
    this.keepListing();
    if (this.waiters.size === 0) return;
    if (this.checking) {
      this.checkAgain = true;
      return;
    }
    this.checking = true;
    try {
      const types = await this.options.claimableTypes();
      for (const { id, name } of types) this.learn(id, name);
      const before = this.waiters.size;
      this.wake(new Map(types.map(({ id }) => [id, 0])));
      if (this.waiters.size < before) this.options.onWoken();
    } catch {
      // The database failing: the claims meet it when they claim at the end of their wait.
    } finally {
      this.checking = false;
    }
    if (this.checkAgain) {
      this.checkAgain = false;
      await this.check();
    }
  }

  /** Stops checking, and takes this store off claim_listeners if it is listed. */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    const listed = this.listedAt !== undefined;
    this.listedAt = undefined;
    await this.listing.then(() => (listed ? this.options.unlist() : undefined)).catch(() => {});
  }
}
