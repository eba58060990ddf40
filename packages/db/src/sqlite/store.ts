import { EventEmitter } from 'node:events';
import { sql } from 'drizzle-orm';
import { ParameterValidator } from '../parameters.js';
import type { TaskEvent, TaskStore } from '../store.js';
import type { Task } from '../types.js';
import { openSqlite, type OpenSqliteOptions, type SqliteDb } from './database.js';
import { GroupCommit } from './group-commit.js';
import * as queue from './queue.js';
import * as taskTypes from './task-types.js';
import * as tasks from './tasks.js';
import * as tokens from './tokens.js';
import { WaitingClaims } from './waiting-claims.js';

/**
 * How often the store looks whether another process (a second server on the same file) has
 * committed, to wake the claims waiting here: `PRAGMA data_version`, a read of a counter.
 */
const OTHER_PROCESSES_CHECK_MS = 100;

type Args<K extends keyof TaskStore> = TaskStore[K] extends (...args: infer A) => unknown ? A : never;

/**
 * The embedded store: one SQLite file. better-sqlite3 is synchronous: reads run at once, and
 * writes are grouped, those asked for in one turn of the event loop sharing one transaction and
 * one fsync (see GroupCommit); a write's promise settles once it is committed. The async
 * signature is the contract that other engines share.
 */
export class SqliteTaskStore implements TaskStore {
  readonly db: SqliteDb;
  private readonly validator = new ParameterValidator();
  private readonly events = new EventEmitter().setMaxListeners(0);
  private readonly touched = new Map<number, number>();
  /** Whether a live token exists, as read in this turn of the event loop (see hasActiveTokens). */
  private activeTokens: boolean | undefined;

  private readonly writes: GroupCommit;
  private readonly waiting: WaitingClaims;
  private dataVersion: number;
  private readonly otherProcesses: NodeJS.Timeout;

  constructor(path: string, options?: OpenSqliteOptions) {
    this.db = openSqlite(path, options);
    this.waiting = new WaitingClaims(this.db, ({ tasks: claimed, expired }) => {
      this.expired(expired);
      this.emit('claimed', claimed);
    });
    this.writes = new GroupCommit(this.db.$client, () => this.waiting.serve());
    this.dataVersion = this.readDataVersion();
    this.otherProcesses = setInterval(() => this.checkOtherProcesses(), OTHER_PROCESSES_CHECK_MS).unref();
  }

  /** Changes whenever another connection has committed; never for this one's own commits. */
  private readDataVersion(): number {
    return this.db.$client.pragma('data_version', { simple: true }) as number;
  }

  /** Another process committed: tasks of any type may have become claimable, so everyone looks. */
  private checkOtherProcesses(): void {
    if (!this.db.$client.open) return;
    const version = this.readDataVersion();
    if (version === this.dataVersion) return;
    this.dataVersion = version;
    this.available(null, false);
  }

  /** Inside a write: the task may be claimable now, so waiting claims get a look at it. */
  private offer<T extends { task_type_id: number; status: string }>(task: T): T {
    if (task.status === 'pending') this.waiting.offer(task.task_type_id);
    return task;
  }

  /** Runs a synchronous write in the next group commit. */
  private write<T>(work: () => T): Promise<T> {
    return this.writes.run(work);
  }

  /**
   * After a commit that may have made tasks claimable: tells claims not yet waiting, and wakes
   * the waiting ones that should look again. `offered`: the write offered what it made
   * claimable to the waiting claims in its own transaction (see WaitingClaims). Called right
   * after the write's promise settles: in the microtasks that follow its group's flush, before
   * any other group can flush, so the latest `serve` is that group's.
   */
  private available<T>(value: T, offered = true): T {
    this.events.emit('available');
    this.waiting.wake(offered);
    return value;
  }

  private emit(kind: TaskEvent['kind'], counts: Map<number, number> | Task[] | Task): void {
    const byType =
      counts instanceof Map
        ? counts
        : (Array.isArray(counts) ? counts : [counts]).reduce(
            (map, task) => map.set(task.task_type_id, (map.get(task.task_type_id) ?? 0) + 1),
            new Map<number, number>(),
          );
    for (const [task_type_id, count] of byType) this.events.emit('task', { kind, task_type_id, count } satisfies TaskEvent);
  }

  private expired({ released, failed }: queue.ExpiredLeases): number {
    this.emit('lease_expired', released);
    this.emit('lease_expired', failed);
    this.emit('failed', failed);
    const changed = [...released.values(), ...failed.values()].reduce((a, b) => a + b, 0);
    if (released.size) this.available(null, false);
    return changed;
  }

  async createTaskType(...args: Args<'createTaskType'>) {
    return this.write(() => taskTypes.createTaskType(this.db, this.validator, ...args));
  }
  async listTaskTypes(...args: Args<'listTaskTypes'>) {
    return taskTypes.listTaskTypes(this.db, ...args);
  }
  async getTaskType(...args: Args<'getTaskType'>) {
    return taskTypes.getTaskType(this.db, ...args);
  }
  async updateTaskType(...args: Args<'updateTaskType'>) {
    // Re-activating a type can make its tasks claimable.
    return this.available(
      await this.write(() => {
        const type = taskTypes.updateTaskType(this.db, this.validator, ...args);
        if (type.is_active) this.waiting.offer(type.id);
        return type;
      }),
    );
  }
  async deactivateTaskType(...args: Args<'deactivateTaskType'>) {
    await this.write(() => taskTypes.deactivateTaskType(this.db, ...args));
  }

  async createTask(...args: Args<'createTask'>) {
    const created = await this.write(() => {
      const result = tasks.createTask(this.db, this.validator, ...args);
      if (result.created) this.offer(result.task);
      return result;
    });
    if (created.created) this.emit('created', created.task);
    return this.available(created);
  }
  async createTasks(...args: Args<'createTasks'>) {
    const created = await this.write(() => tasks.createTasks(this.db, this.validator, ...args).map((task) => this.offer(task)));
    this.emit('created', created);
    return this.available(created);
  }
  async listTasks(...args: Args<'listTasks'>) {
    return tasks.listTasks(this.db, ...args);
  }
  async getTask(...args: Args<'getTask'>) {
    return tasks.getTask(this.db, ...args);
  }
  async updateTask(...args: Args<'updateTask'>) {
    return this.available(await this.write(() => this.offer(tasks.updateTask(this.db, this.validator, ...args))));
  }
  async deleteTask(...args: Args<'deleteTask'>) {
    await this.write(() => tasks.deleteTask(this.db, ...args));
  }

  async claimTasks(...args: Args<'claimTasks'>) {
    const { tasks: claimed, expired } = await this.write(() => queue.claimTasks(this.db, ...args));
    this.expired(expired);
    this.emit('claimed', claimed);
    return claimed;
  }
  async nextClaimableAt(...args: Args<'nextClaimableAt'>) {
    return queue.nextClaimableAt(this.db, ...args);
  }
  async heartbeatTask(...args: Args<'heartbeatTask'>) {
    return this.write(() => queue.heartbeatTask(this.db, ...args));
  }
  async completeTask(...args: Args<'completeTask'>) {
    const task = await this.write(() => queue.completeTask(this.db, ...args));
    this.emit('completed', task);
    return task;
  }
  async failTask(...args: Args<'failTask'>) {
    const task = await this.write(() => queue.failTask(this.db, ...args));
    this.emit(task.status === 'failed' ? 'failed' : 'retried', task);
    // A retry comes due after its backoff: waiters look again to set their timers by it.
    return task.status === 'pending' ? this.available(task, false) : task;
  }
  async cancelTask(...args: Args<'cancelTask'>) {
    const task = await this.write(() => queue.cancelTask(this.db, ...args));
    this.emit('cancelled', task);
    return task;
  }
  async retryTask(...args: Args<'retryTask'>) {
    const task = await this.write(() => this.offer(queue.retryTask(this.db, ...args)));
    this.emit('retried', task);
    return this.available(task);
  }
  async sweepExpiredLeases() {
    return this.expired(await this.write(() => queue.sweepExpiredLeases(this.db)));
  }
  async deleteFinishedTasks(...args: Args<'deleteFinishedTasks'>) {
    return this.write(() => tasks.deleteFinishedTasks(this.db, ...args));
  }
  async countTasks() {
    return tasks.countTasks(this.db);
  }

  async createToken(...args: Args<'createToken'>) {
    return this.write(() => {
      this.activeTokens = undefined;
      return tokens.createToken(this.db, ...args);
    });
  }
  async listTokens() {
    return tokens.listTokens(this.db);
  }
  async revokeToken(...args: Args<'revokeToken'>) {
    return this.write(() => {
      this.activeTokens = undefined;
      return tokens.revokeToken(this.db, ...args);
    });
  }
  async hasActiveTokens() {
    // Asked by every request: one read serves all the requests of one event-loop turn.
    if (this.activeTokens === undefined) {
      this.activeTokens = tokens.hasActiveTokens(this.db);
      setImmediate(() => (this.activeTokens = undefined));
    }
    return this.activeTokens;
  }
  async verifyToken(...args: Args<'verifyToken'>) {
    const token = tokens.verifyToken(this.db, ...args);
    // last_used_at is kept to the minute: no write on every request.
    if (token && (this.touched.get(token.id) ?? 0) < Date.now() - 60_000) {
      this.touched.set(token.id, Date.now());
      void this.write(() => tokens.touchToken(this.db, token.id)).catch(() => this.touched.delete(token.id));
    }
    return token;
  }

  waitToClaim(...args: Args<'waitToClaim'>): () => void {
    return this.waiting.add(...args);
  }

  onTasksAvailable(listener: () => void): () => void {
    this.events.on('available', listener);
    return () => this.events.off('available', listener);
  }

  onTaskEvent(listener: (event: TaskEvent) => void): () => void {
    this.events.on('task', listener);
    return () => this.events.off('task', listener);
  }

  async ping(): Promise<boolean> {
    try {
      this.db.get(sql`select 1 from __drizzle_migrations limit 1`);
      return true;
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    if (!this.db.$client.open) return;
    clearInterval(this.otherProcesses);
    this.writes.flush();
    this.db.$client.pragma('wal_checkpoint(TRUNCATE)');
    this.db.$client.close();
  }
}
