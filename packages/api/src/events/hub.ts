/**
 * One reader of the log of changes per server (ChangeHub), fanning what it reads out to the
 * live event streams and waits for results of this server. It tails the log only while someone
 * listens: it starts at the log's end when the first subscriber comes, reads after the last
 * change it read whenever the store hints that the log may have grown (a commit here, or in
 * another replica), and on a slow timer besides (a hint may be lost: that delays a change, never
 * loses it); it stops when the last subscriber leaves.
 */
import { ChangesExpiredError, type ChangeLog, type TaskChange, type TaskChangeKind, type TaskStatus } from '@prismq/db';

/** Which changes a subscriber wants: every condition given must hold. */
export interface ChangeFilter {
  task_ids?: readonly number[] | undefined;
  task_type_ids?: readonly number[] | undefined;
  statuses?: readonly TaskStatus[] | undefined;
  kinds?: readonly TaskChangeKind[] | undefined;
}

export function matches(filter: ChangeFilter, change: TaskChange): boolean {
  return (
    (!filter.task_ids || filter.task_ids.includes(change.task_id)) &&
    (!filter.task_type_ids || filter.task_type_ids.includes(change.task_type_id)) &&
    (!filter.statuses || filter.statuses.includes(change.status)) &&
    (!filter.kinds || filter.kinds.includes(change.kind))
  );
}

/** Why a subscription ended before its subscriber closed it. */
export class SubscriptionEnded extends Error {
  constructor(
    readonly reason: 'overflow' | 'closed' | 'failed',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'SubscriptionEnded';
  }
}

export interface ChangeHubOptions {
  /** How often the log is read while someone listens, whatever the hints say, in milliseconds. Default 2000. */
  fallbackMs?: number;
  /** Changes read at once. Default 500. */
  pageSize?: number;
  /** Changes a subscriber may have waiting; past that it is ended (`overflow`). Default 1000. */
  maxQueued?: number;
  /** Told when a read of the log failed (it is tried again at the next hint or tick). */
  onError?: (error: unknown) => void;
}

/** A subscriber: the changes that match its filter, from the hub's position when it became ready on. */
export class ChangeSubscription {
  private readonly queue: TaskChange[] = [];
  private wake: (() => void) | undefined;
  private ended: SubscriptionEnded | undefined;

  constructor(
    private readonly hub: ChangeHub,
    readonly filter: ChangeFilter,
    /** Resolves once the hub reads the log: every change committed after that reaches this subscriber. */
    readonly ready: Promise<void>,
    private readonly maxQueued: number,
  ) {}

  /** From the hub: a change that matches. */
  deliver(change: TaskChange): void {
    if (this.ended) return;
    if (this.queue.length >= this.maxQueued) {
      this.end(new SubscriptionEnded('overflow', `More than ${this.maxQueued} events were waiting to be sent: the stream fell behind; reconnect with the last event id to resume`));
      return;
    }
    this.queue.push(change);
    this.wake?.();
  }

  /** Ends it: its reader gets what was queued, then `reason`. */
  end(reason: SubscriptionEnded): void {
    if (this.ended) return;
    this.ended = reason;
    this.hub.remove(this);
    this.wake?.();
  }

  /** Stops it (its subscriber is done). */
  close(): void {
    this.end(new SubscriptionEnded('closed', 'Closed'));
  }

  /**
   * The next change, waiting for one; undefined when `signal` aborts or the subscription was
   * closed; throws the SubscriptionEnded that ended it otherwise.
   */
  async next(signal: AbortSignal): Promise<TaskChange | undefined> {
    for (;;) {
      const change = this.queue.shift();
      if (change) return change;
      if (signal.aborted) return undefined;
      if (this.ended) {
        if (this.ended.reason === 'closed') return undefined;
        throw this.ended;
      }
      await new Promise<void>((resolve) => {
        const done = () => {
          this.wake = undefined;
          signal.removeEventListener('abort', done);
          resolve();
        };
        this.wake = done;
        signal.addEventListener('abort', done);
      });
    }
  }
}

export class ChangeHub {
  private readonly subscribers = new Set<ChangeSubscription>();
  /** The last change read (or the log's end when the hub started); undefined while stopped. */
  private position: string | undefined;
  /** Reading the log's end, while starting. */
  private starting: Promise<void> | undefined;
  private stopHints: (() => void) | undefined;
  private timer: NodeJS.Timeout | undefined;
  private pulling = false;
  private pullAgain = false;
  private closed = false;
  private readonly fallbackMs: number;
  private readonly pageSize: number;
  private readonly maxQueued: number;

  constructor(
    private readonly store: ChangeLog,
    private readonly options: ChangeHubOptions = {},
  ) {
    this.fallbackMs = options.fallbackMs ?? 2000;
    this.pageSize = options.pageSize ?? 500;
    this.maxQueued = options.maxQueued ?? 1000;
  }

  /** Subscribers now. */
  get size(): number {
    return this.subscribers.size;
  }

  /** Subscribes to the changes that match `filter`; close the subscription when done. */
  subscribe(filter: ChangeFilter): ChangeSubscription {
    let ready: Promise<void>;
    if (this.closed) ready = Promise.reject(new SubscriptionEnded('closed', 'The server is shutting down'));
    else if (this.position !== undefined) ready = Promise.resolve();
    else ready = this.starting ??= this.start();
    ready.catch(() => {}); // awaited by the subscriber; unhandled only if it never is
    const subscription = new ChangeSubscription(this, filter, ready, this.maxQueued);
    if (!this.closed) this.subscribers.add(subscription);
    return subscription;
  }

  /** Called by a subscription that ended. */
  remove(subscription: ChangeSubscription): void {
    this.subscribers.delete(subscription);
    if (this.subscribers.size === 0 && !this.starting) this.stop();
  }

  private async start(): Promise<void> {
    // Hints first: a commit while the end is read makes the first pull look again.
    this.stopHints = this.store.onChanges(() => this.hint());
    this.timer = setInterval(() => this.hint(), this.fallbackMs).unref();
    try {
      const head = await this.store.changesHead();
      if (this.subscribers.size > 0) {
        this.position = head;
        this.hint();
      }
    } catch (error) {
      throw new SubscriptionEnded('failed', 'The log of changes could not be read', { cause: error });
    } finally {
      this.starting = undefined;
      if (this.position === undefined) this.stop();
    }
  }

  private stop(): void {
    this.stopHints?.();
    this.stopHints = undefined;
    clearInterval(this.timer);
    this.timer = undefined;
    this.position = undefined;
  }

  /** The log may have grown: reads it, once at a time (a hint during a read makes it read again). */
  private hint(): void {
    if (this.position === undefined) return;
    if (this.pulling) {
      this.pullAgain = true;
      return;
    }
    this.pulling = true;
    void this.pull().finally(() => (this.pulling = false));
  }

  private async pull(): Promise<void> {
    do {
      this.pullAgain = false;
      for (;;) {
        const from = this.position;
        if (from === undefined) return;
        let changes: TaskChange[];
        try {
          changes = await this.store.readChanges(from, this.pageSize);
        } catch (error) {
          this.options.onError?.(error);
          // Its own position deleted by retention (it fell behind by that long): its subscribers
          // cannot be told what they missed; they end, and the next one starts from the end.
          if (error instanceof ChangesExpiredError && this.position === from) {
            for (const subscriber of [...this.subscribers]) subscriber.end(new SubscriptionEnded('failed', error.message, { cause: error }));
            this.stop();
          }
          return;
        }
        // Stopped, or stopped and started again, meanwhile: that start has its own position.
        if (this.position !== from) return;
        for (const change of changes) {
          for (const subscriber of this.subscribers) if (matches(subscriber.filter, change)) subscriber.deliver(change);
        }
        if (changes.length > 0) this.position = changes.at(-1)!.id;
        if (changes.length < this.pageSize) break;
      }
    } while (this.pullAgain);
  }

  /** Ends every subscription and takes no more (the server is shutting down). */
  close(): void {
    this.closed = true;
    for (const subscriber of [...this.subscribers]) subscriber.end(new SubscriptionEnded('closed', 'The server is shutting down'));
    this.stop();
  }
}
