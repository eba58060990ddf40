/**
 * How a PostgreSQL store learns that other replicas have written to the log of changes, while it
 * has readers (live events, waits for results): writes notify `prismq_events` (a trigger on
 * task_events, migration 0002) only while some store is listed in event_listeners, since a
 * transaction that notifies makes commits wait in turn (see ./notify.ts). So this store LISTENs
 * once it first has readers, lists itself while it has them, says so again every RENEW_MS, and
 * takes itself off after IDLE_MS without any. A notification is only a hint: readers also read
 * on a timer of their own, and after the listening connection came back.
 */
import type { PgClient } from './client.js';
import { listen, unlisten } from './notify.js';

export const EVENTS_CHANNEL = 'prismq_events';

/** How often a store with readers says so again in event_listeners. */
const RENEW_MS = 10_000;

/** How long a store goes without readers before it takes itself off event_listeners. */
const IDLE_MS = 30_000;

export class ChangeListeners {
  private active = false;
  /** Whether this store is listed in event_listeners, and since when. */
  private listedAt: number | undefined;
  private idleSince: number | undefined;
  /** LISTEN, once, from the first reader on; undefined until then or after it failed. */
  private listening: Promise<(() => Promise<void>) | undefined> | undefined;
  /** Listing and unlisting, one after another. */
  private queue: Promise<void> = Promise.resolve();
  private readonly timer: NodeJS.Timeout;
  private closed = false;

  constructor(
    private readonly db: PgClient,
    private readonly origin: string,
    /** Told of every notification, and when the listening connection (re)connected or this store was listed: the log may have grown. */
    private readonly grew: () => void,
  ) {
    this.timer = setInterval(() => this.keep(), 1000).unref();
  }

  /** The store's readers started (true) or all stopped (false). */
  readers(active: boolean): void {
    this.active = active;
    if (active) {
      this.idleSince = undefined;
      this.keep();
    } else this.idleSince = Date.now();
  }

  private listen(): void {
    if (this.listening || this.closed) return;
    let connected = false;
    this.listening = this.db
      .listen(EVENTS_CHANNEL, () => this.grew(), () => {
        // Connected again after losing the connection: notifications may have been missed.
        if (connected) {
          this.listedAt = undefined;
          this.grew();
        }
        connected = true;
      })
      .catch(() => {
        this.listening = undefined; // tried again at the next keep()
        return undefined;
      });
  }

  /** Keeps the listing: made and renewed while there are readers, removed once there have been none for IDLE_MS. */
  private keep(): void {
    if (this.closed) return;
    const now = Date.now();
    if (this.active) {
      this.listen();
      if (this.listedAt === undefined || now - this.listedAt > RENEW_MS) {
        const first = this.listedAt === undefined;
        this.listedAt = now; // until it fails: one listing at a time
        this.queue = this.queue
          // Listening first: a write that notifies once this store is listed is heard.
          .then(() => this.listening)
          .then(() => listen(this.db, this.origin, 'event_listeners'))
          .then(
            // Writes that committed before the listing did not notify: readers look now.
            () => (first ? this.grew() : undefined),
            () => (this.listedAt = undefined),
          );
      }
      return;
    }
    if (this.listedAt === undefined || this.idleSince === undefined || now - this.idleSince < IDLE_MS) return;
    this.listedAt = undefined;
    this.queue = this.queue.then(() => unlisten(this.db, this.origin, 'event_listeners')).catch(() => {});
  }

  /** Stops listening, and takes this store off event_listeners if it is listed. */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    const listed = this.listedAt !== undefined;
    this.listedAt = undefined;
    await this.queue.then(() => (listed ? unlisten(this.db, this.origin, 'event_listeners') : undefined)).catch(() => {});
    const stopListening = await this.listening;
    await stopListening?.().catch(() => {});
  }
}
