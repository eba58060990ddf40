import { sql } from 'drizzle-orm';
import type { TaskStore } from '../store.js';
import { openSqlite, type OpenSqliteOptions, type SqliteDb } from './database.js';
import * as taskTypes from './task-types.js';
import * as tasks from './tasks.js';

/**
 * The embedded store: one SQLite file. better-sqlite3 is synchronous, so every method runs its
 * transaction to completion before its promise settles; the async signature is the contract that
 * other engines share.
 */
export class SqliteTaskStore implements TaskStore {
  readonly db: SqliteDb;

  constructor(path: string, options?: OpenSqliteOptions) {
    this.db = openSqlite(path, options);
  }

  async createTaskType(...args: Parameters<TaskStore['createTaskType']>) {
    return taskTypes.createTaskType(this.db, ...args);
  }
  async listTaskTypes(...args: Parameters<TaskStore['listTaskTypes']>) {
    return taskTypes.listTaskTypes(this.db, ...args);
  }
  async getTaskType(...args: Parameters<TaskStore['getTaskType']>) {
    return taskTypes.getTaskType(this.db, ...args);
  }
  async updateTaskType(...args: Parameters<TaskStore['updateTaskType']>) {
    return taskTypes.updateTaskType(this.db, ...args);
  }
  async deactivateTaskType(...args: Parameters<TaskStore['deactivateTaskType']>) {
    taskTypes.deactivateTaskType(this.db, ...args);
  }

  async createTask(...args: Parameters<TaskStore['createTask']>) {
    return tasks.createTask(this.db, ...args);
  }
  async listTasks(...args: Parameters<TaskStore['listTasks']>) {
    return tasks.listTasks(this.db, ...args);
  }
  async getTask(...args: Parameters<TaskStore['getTask']>) {
    return tasks.getTask(this.db, ...args);
  }
  async updateTask(...args: Parameters<TaskStore['updateTask']>) {
    return tasks.updateTask(this.db, ...args);
  }
  async deleteTask(...args: Parameters<TaskStore['deleteTask']>) {
    tasks.deleteTask(this.db, ...args);
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
