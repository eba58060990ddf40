import { EventEmitter } from 'node:events';
import { sql } from 'drizzle-orm';
import { ParameterValidator } from '../parameters.js';
import type { TaskStore } from '../store.js';
import { openSqlite, type OpenSqliteOptions, type SqliteDb } from './database.js';
import * as queue from './queue.js';
import * as taskTypes from './task-types.js';
import * as tasks from './tasks.js';

type Args<K extends keyof TaskStore> = TaskStore[K] extends (...args: infer A) => unknown ? A : never;

/**
 * The embedded store: one SQLite file. better-sqlite3 is synchronous, so every method runs its
 * transaction to completion before its promise settles; the async signature is the contract that
 * other engines share.
 */
export class SqliteTaskStore implements TaskStore {
  readonly db: SqliteDb;
  private readonly validator = new ParameterValidator();
  private readonly events = new EventEmitter().setMaxListeners(0);

  constructor(path: string, options?: OpenSqliteOptions) {
    this.db = openSqlite(path, options);
  }

  private available<T>(value: T): T {
    this.events.emit('available');
    return value;
  }

  async createTaskType(...args: Args<'createTaskType'>) {
    return taskTypes.createTaskType(this.db, this.validator, ...args);
  }
  async listTaskTypes(...args: Args<'listTaskTypes'>) {
    return taskTypes.listTaskTypes(this.db, ...args);
  }
  async getTaskType(...args: Args<'getTaskType'>) {
    return taskTypes.getTaskType(this.db, ...args);
  }
  async updateTaskType(...args: Args<'updateTaskType'>) {
    // Re-activating a type can make its tasks claimable.
    return this.available(taskTypes.updateTaskType(this.db, this.validator, ...args));
  }
  async deactivateTaskType(...args: Args<'deactivateTaskType'>) {
    taskTypes.deactivateTaskType(this.db, ...args);
  }

  async createTask(...args: Args<'createTask'>) {
    return this.available(tasks.createTask(this.db, this.validator, ...args));
  }
  async createTasks(...args: Args<'createTasks'>) {
    return this.available(tasks.createTasks(this.db, this.validator, ...args));
  }
  async listTasks(...args: Args<'listTasks'>) {
    return tasks.listTasks(this.db, ...args);
  }
  async getTask(...args: Args<'getTask'>) {
    return tasks.getTask(this.db, ...args);
  }
  async updateTask(...args: Args<'updateTask'>) {
    return this.available(tasks.updateTask(this.db, this.validator, ...args));
  }
  async deleteTask(...args: Args<'deleteTask'>) {
    tasks.deleteTask(this.db, ...args);
  }

  async claimTasks(...args: Args<'claimTasks'>) {
    return queue.claimTasks(this.db, ...args);
  }
  async nextClaimableAt(...args: Args<'nextClaimableAt'>) {
    return queue.nextClaimableAt(this.db, ...args);
  }
  async heartbeatTask(...args: Args<'heartbeatTask'>) {
    return queue.heartbeatTask(this.db, ...args);
  }
  async completeTask(...args: Args<'completeTask'>) {
    return queue.completeTask(this.db, ...args);
  }
  async failTask(...args: Args<'failTask'>) {
    return this.available(queue.failTask(this.db, ...args));
  }
  async cancelTask(...args: Args<'cancelTask'>) {
    return queue.cancelTask(this.db, ...args);
  }
  async retryTask(...args: Args<'retryTask'>) {
    return this.available(queue.retryTask(this.db, ...args));
  }
  async sweepExpiredLeases() {
    const changed = queue.sweepExpiredLeases(this.db);
    return changed ? this.available(changed) : changed;
  }

  onTasksAvailable(listener: () => void): () => void {
    this.events.on('available', listener);
    return () => this.events.off('available', listener);
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
    this.db.$client.pragma('wal_checkpoint(TRUNCATE)');
    this.db.$client.close();
  }
}
