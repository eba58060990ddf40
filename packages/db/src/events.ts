/**
 * What a store tells its listeners, for every engine: tasks that may have become claimable
 * (onTasksAvailable) and what happened to tasks through the queue protocol (onTaskEvent).
 */
import { EventEmitter } from 'node:events';
import type { ClaimRequest, SettleOutcome, TaskEvent, WaitingClaim } from './store.js';
import type { Task } from './types.js';

/** How many tasks of each type an operation touched. */
export type CountByType = Map<number, number>;

export function countByType(rows: readonly { task_type_id: number }[]): CountByType {
  const counts: CountByType = new Map();
  for (const { task_type_id } of rows) counts.set(task_type_id, (counts.get(task_type_id) ?? 0) + 1);
  return counts;
}

/**
 * Leases that ran out, ended: each counts as a failed attempt, so the task went back to pending
 * (`released`), or became failed once its attempts were used up (`failed`).
 */
export interface ExpiredLeases {
  released: CountByType;
  failed: CountByType;
}

export class StoreEvents {
  private readonly emitter = new EventEmitter().setMaxListeners(0);

  /** Tells onTasksAvailable's listeners that tasks may have become claimable. */
  available(): void {
    this.emitter.emit('available');
  }

  /** One event per type of the tasks (or counts by type) given. */
  task(kind: TaskEvent['kind'], counts: CountByType | readonly Task[] | Task): void {
    const byType = counts instanceof Map ? counts : countByType(Array.isArray(counts) ? counts : [counts as Task]);
    for (const [task_type_id, count] of byType) this.emitter.emit('task', { kind, task_type_id, count } satisfies TaskEvent);
  }

  /** The events of an exchange's settlements, as completeTask and failTask emit them one by one. */
  settled(outcomes: readonly SettleOutcome[]): void {
    const done = outcomes.filter((outcome) => 'status' in outcome);
    this.task('completed', countByType(done.filter((outcome) => outcome.status === 'completed')));
    this.task('failed', countByType(done.filter((outcome) => outcome.status === 'failed')));
    this.task('retried', countByType(done.filter((outcome) => outcome.status === 'pending')));
  }

  /** The events of leases that ran out; returns how many tasks they changed. */
  expired({ released, failed }: ExpiredLeases): number {
    this.task('lease_expired', released);
    this.task('lease_expired', failed);
    this.task('failed', failed);
    return [...released.values(), ...failed.values()].reduce((a, b) => a + b, 0);
  }

  onTasksAvailable(listener: () => void): () => void {
    this.emitter.on('available', listener);
    return () => this.emitter.off('available', listener);
  }

  onTaskEvent(listener: (event: TaskEvent) => void): () => void {
    this.emitter.on('task', listener);
    return () => this.emitter.off('task', listener);
  }
}

/**
 * What every request asks of the tokens, kept so that it costs no query: whether any token was
 * ever created (true for good once seen; a no is read again in the next turn of the event loop,
 * since another process may have created one), and when each token's use was last recorded
 * (last_used_at is kept to the minute: no write on every request).
 */
export class TokenUse {
  private exists: boolean | Promise<boolean> | undefined;
  private readonly touched = new Map<number, number>();

  /** Whether a token was ever created, from `read` when not known. */
  hasTokens(read: () => boolean | Promise<boolean>): Promise<boolean> {
    if (this.exists === undefined) {
      const reading = (async () => read())();
      this.exists = reading;
      reading.then(
        (exists) => {
          if (exists) this.exists = true;
        },
        () => {
          if (this.exists === reading) this.exists = undefined;
        },
      );
      // A no holds for this turn of the event loop only.
      setImmediate(() => {
        if (this.exists !== true) this.exists = undefined;
      });
    }
    return Promise.resolve(this.exists);
  }

  /** A token was created: from now on there are tokens. */
  created(): void {
    this.exists = true;
  }

  /** Records a use of token `id` with `touch`, at most once a minute; a failed touch is tried again at the next use. */
  use(id: number, touch: () => Promise<unknown>): void {
    if ((this.touched.get(id) ?? 0) >= Date.now() - 60_000) return;
    this.touched.set(id, Date.now());
    touch().catch(() => this.touched.delete(id));
  }
}

/**
 * What both engines' stores share of ClaimSignals: their events, their token use, and waiting
 * claims handed to the engine's own `waiting`.
 */
export abstract class StoreSignals {
  protected readonly events = new StoreEvents();
  protected readonly tokenUse = new TokenUse();
  protected abstract readonly waiting: { add(request: ClaimRequest, waiting: WaitingClaim): () => void };

  waitToClaim(request: ClaimRequest, waiting: WaitingClaim): () => void {
    return this.waiting.add(request, waiting);
  }

  onTasksAvailable(listener: () => void): () => void {
    return this.events.onTasksAvailable(listener);
  }

  onTaskEvent(listener: (event: TaskEvent) => void): () => void {
    return this.events.onTaskEvent(listener);
  }
}
