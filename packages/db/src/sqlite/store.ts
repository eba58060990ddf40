import { watch, type FSWatcher } from 'node:fs';
import { sql } from 'drizzle-orm';
import { declareTaskType } from '../declare.js';
import type { StorageError } from '../errors.js';
import { StoreSignals, countByType, type ExpiredLeases } from '../events.js';
import { CANCELLABLE, RETRYABLE, foldInBatches, normalizeSelection } from '../rules/index.js';
import { ParameterValidator } from '../parameters.js';
import type { CloseResult, Health, TaskCreate, TaskEvent, TaskStore, TaskUpdate } from '../store.js';
import type { Task } from '../types.js';
import { WriteValidation, type CheckedParameters } from '../validation.js';
import { openSqlite, type OpenSqliteOptions, type SqliteDb } from './database.js';
import * as bulk from './bulk.js';
import * as attempts from './attempts.js';
import { GroupCommit } from './group-commit.js';
import * as pages from './pages.js';
import { DatabaseFile, probeStorage, storageErrorOf } from './storage.js';
import * as queue from './queue.js';
import * as stats from './stats.js';
import * as taskTypes from './task-types.js';
import * as tasks from './tasks.js';
import * as tokens from './tokens.js';
import * as changes from './changes.js';
import { ChangeHints } from '../changes.js';
import { WaitingClaims } from './waiting-claims.js';
import { Turns } from '../turns.js';

/**
 * How often the store looks whether another process (a second server on the same file) has
 * committed, to wake the claims waiting here: `PRAGMA data_version`, a read of a counter.
 */
const OTHER_PROCESSES_CHECK_MS = 100;

export interface SqliteTaskStoreOptions extends OpenSqliteOptions {
  /**
   * The time budget, in milliseconds, of validating one request's task parameters, or of checking
   * one `parameters_schema`, in a worker thread (see ParameterValidator); over it, the request
   * answers a ValidationError. Default 1000.
   */
  validationTimeoutMs?: number;
  /**
   * Index entries one step of a list's (or a bulk action's) walk examines at most before the
   * event loop is handed back (see pages.ts WALK_STEP); for tests. Default 2,000.
   */
  walkStep?: number;
}

type Args<K extends keyof TaskStore> = TaskStore[K] extends (...args: infer A) => unknown ? A : never;

/**
 * The embedded store: one SQLite file. better-sqlite3 is synchronous: reads run at once, and
 * writes are grouped, those asked for in one turn of the event loop sharing one transaction and
 * one fsync (see GroupCommit); a write's promise settles once it is committed. The async
 * signature is the contract that other engines share.
 */
export class SqliteTaskStore extends StoreSignals implements TaskStore {
  readonly db: SqliteDb;
  /** Validates parameters and checks schemas in worker threads, before the writes that need them. */
  private readonly validation: WriteValidation;

  private readonly writes: GroupCommit;
  protected readonly waiting: WaitingClaims;
  /** The file as opened, to notice it being deleted or replaced; undefined in memory. */
  private readonly file: DatabaseFile | undefined;
  /** Why the latest write that failed for storage failed, until a write commits again; see health. */
  private storageFailure: StorageError | undefined;
  /** The probe write that health runs, while one is on its way. */
  private probing: Promise<void> | undefined;
  private dataVersion: number;
  /** Tells readers of the log of changes that it may have grown: after every commit here, and another process's. */
  private readonly changeHints = new ChangeHints();
  private readonly otherProcesses: NodeJS.Timeout;
  /** Watches the WAL file, which another process's commit writes: see watchOtherProcesses. */
  private readonly walWatcher: FSWatcher | undefined;

  constructor(path: string, options: SqliteTaskStoreOptions = {}) {
    super();
    this.db = openSqlite(path, options);
    this.reads = { read: (work) => this.read(work), longWalks: new Turns(pages.MAX_LONG_WALKS), ...(options.walkStep ? { step: options.walkStep } : {}) };
    this.validation = new WriteValidation(new ParameterValidator({ timeoutMs: options.validationTimeoutMs }));
    this.waiting = new WaitingClaims(this.db, ({ tasks: claimed, expired }) => {
      this.expired(expired);
      this.emit('claimed', claimed);
    });
    this.file = DatabaseFile.of(this.db.$client);
    this.writes = new GroupCommit(this.db.$client, () => {
      const handOff = this.waiting.serve();
      // Every group may have logged changes: their readers look once it has committed.
      return () => {
        handOff?.();
        if (this.changeHints.active) this.changeHints.grew();
      };
    }, {
      file: this.file,
      onStorage: (failure) => (this.storageFailure = failure ?? undefined),
    });
    this.dataVersion = this.readDataVersion();
    this.otherProcesses = setInterval(() => this.checkOtherProcesses(), OTHER_PROCESSES_CHECK_MS).unref();
    this.walWatcher = this.watchOtherProcesses();
  }

  /**
   * Another process's commit appends to the WAL file: watching it (inotify, FSEvents, …) wakes
   * this store's waiting claims and readers of the log within a millisecond or two, where the
   * timer alone takes up to OTHER_PROCESSES_CHECK_MS. The timer stays, for file systems that do
   * not report changes (network ones). This store's own commits also wake the watch: each costs
   * one read of data_version, which finds nothing new.
   */
  private watchOtherProcesses(): FSWatcher | undefined {
    if (!this.file) return undefined;
    try {
      const watcher = watch(`${this.file.path}-wal`, { persistent: false }, () => this.checkOtherProcesses());
      watcher.on('error', () => watcher.close());
      return watcher;
    } catch {
      return undefined;
    }
  }

  /** Changes whenever another connection has committed; never for this one's own commits. */
  private readDataVersion(): number {
    return this.db.$client.pragma('data_version', { simple: true }) as number;
  }

  /** Another process committed: tasks of any type may have become claimable, so everyone looks. */
  private checkOtherProcesses(): void {
    if (!this.db.$client.open) return;
    let version: number;
    try {
      version = this.readDataVersion();
    } catch {
      return; // the storage failing: writes and health() say so, and this looks again next time
    }
    if (version === this.dataVersion) return;
    this.dataVersion = version;
    this.available(null, false);
    this.changeHints.grew();
  }

  /** Inside a write: the task may be claimable now, so waiting claims get a look at it. */
  private offer<T extends { task_type_id: number; status: string }>(task: T): T {
    if (task.status === 'pending') this.waiting.offer(task.task_type_id);
    return task;
  }

  /** How the list's walks read (see pages.ts WalkReads): in steps, each through read(). */
  private readonly reads: pages.WalkReads;

  /** Runs a synchronous read now, a storage failure thrown as StorageError (see GroupCommit for writes). */
  private read<T>(work: () => T): T {
    try {
      return work();
    } catch (error) {
      throw storageErrorOf(error, this.file?.path ?? this.db.$client.name) ?? error;
    }
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
    this.events.available();
    this.waiting.wake(offered);
    return value;
  }

  private emit(kind: TaskEvent['kind'], counts: Map<number, number> | Task[] | Task): void {
    this.events.task(kind, counts);
  }

  private expired(expired: ExpiredLeases): number {
    const changed = this.events.expired(expired);
    if (expired.released.size) this.available(null, false);
    return changed;
  }

  /** Validates the parameters of the creates that will need it (see WriteValidation). */
  private async checkCreates(inputs: TaskCreate[], batch: boolean): Promise<Map<number, CheckedParameters>> {
    return this.validation.checkCreates(
      this.read(() => tasks.parametersToCheck(this.db, inputs)),
      batch,
    );
  }

  /** Validates an update's new parameters, if any, against the task's type. */
  private async checkUpdate(id: number, patch: TaskUpdate): Promise<CheckedParameters | undefined> {
    if (patch.parameters === undefined) return undefined;
    return this.validation.checkUpdate(
      this.read(() => tasks.typeOfTask(this.db, id)),
      patch.parameters,
    );
  }

  async createTaskType(...args: Args<'createTaskType'>) {
    await this.validation.checkSchema(args[0].parameters_schema);
    return this.write(() => taskTypes.createTaskType(this.db, ...args));
  }
  async listTaskTypes(...args: Args<'listTaskTypes'>) {
    return this.read(() => taskTypes.listTaskTypes(this.db, ...args));
  }
  async getTaskType(...args: Args<'getTaskType'>) {
    return this.read(() => taskTypes.getTaskType(this.db, ...args));
  }
  async declareTaskType(...args: Args<'declareTaskType'>) {
    return declareTaskType(this, ...args);
  }
  async getTaskTypeByName(...args: Args<'getTaskTypeByName'>) {
    return this.read(() => taskTypes.getTaskTypeByName(this.db, ...args));
  }
  async updateTaskType(...args: Args<'updateTaskType'>) {
    await this.validation.checkSchema(args[1].parameters_schema);
    // Re-activating a type can make its tasks claimable.
    return this.available(
      await this.write(() => {
        const type = taskTypes.updateTaskType(this.db, ...args);
        if (type.is_active) this.waiting.offer(type.id);
        return type;
      }),
    );
  }
  async deactivateTaskType(...args: Args<'deactivateTaskType'>) {
    await this.write(() => taskTypes.deactivateTaskType(this.db, ...args));
  }

  async createTask(...args: Args<'createTask'>) {
    const [input] = args;
    const created = await this.validation.retrying(async () => {
      const checked = await this.checkCreates([input], false);
      return this.write(() => {
        const result = tasks.createTask(this.db, input, checked.get(0));
        if (result.created) this.offer(result.task);
        return result;
      });
    });
    if (created.created) this.emit('created', created.task);
    return this.available(created);
  }
  async createTasks(...args: Args<'createTasks'>) {
    const [inputs] = args;
    const created = await this.validation.retrying(async () => {
      const checked = await this.checkCreates(inputs, true);
      return this.write(() => tasks.createTasks(this.db, inputs, checked).map((task) => this.offer(task)));
    });
    this.emit('created', created);
    return this.available(created);
  }
  async listTasks(...args: Args<'listTasks'>) {
    return (await pages.listTaskPage(this.db, ...args, this.reads)).items;
  }
  async listTaskPage(...args: Args<'listTaskPage'>) {
    return pages.listTaskPage(this.db, ...args, this.reads);
  }
  async getTask(...args: Args<'getTask'>) {
    return this.read(() => tasks.getTask(this.db, ...args));
  }
  async listAttempts(...args: Args<'listAttempts'>) {
    return this.read(() => attempts.listAttempts(this.db, ...args));
  }
  async updateTask(...args: Args<'updateTask'>) {
    const [id, patch] = args;
    const updated = await this.validation.retrying(async () => {
      const checked = await this.checkUpdate(id, patch);
      return this.write(() => this.offer(tasks.updateTask(this.db, id, patch, checked)));
    });
    return this.available(updated);
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
  async exchange(...args: Args<'exchange'>) {
    const { settled, tasks: claimed, expired } = await this.write(() => queue.exchange(this.db, ...args));
    this.expired(expired);
    this.events.settled(settled);
    this.emit('claimed', claimed);
    return { settled, tasks: claimed };
  }
  async nextClaimableAt(...args: Args<'nextClaimableAt'>) {
    return this.read(() => queue.nextClaimableAt(this.db, ...args));
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
  async retryTasks(...args: Args<'retryTasks'>) {
    const selection = normalizeSelection(args[0], RETRYABLE);
    const { ids, more } = await bulk.selectTasks(this.db, selection, this.reads);
    const changed = await this.write(() => {
      const result = bulk.retryTasks(this.db, selection, ids);
      // Pending again: the waiting claims get a look at them, as after retryTask.
      for (const typeId of countByType(result).keys()) this.waiting.offer(typeId);
      return result;
    });
    this.emit('retried', countByType(changed));
    return changed.length ? this.available({ changed: changed.length, more }) : { changed: 0, more };
  }
  async cancelTasks(...args: Args<'cancelTasks'>) {
    const selection = normalizeSelection(args[0], CANCELLABLE);
    const { ids, more } = await bulk.selectTasks(this.db, selection, this.reads);
    const changed = await this.write(() => bulk.cancelTasks(this.db, selection, ids));
    this.emit('cancelled', countByType(changed));
    return { changed: changed.length, more };
  }
  async deleteTasks(...args: Args<'deleteTasks'>) {
    const selection = normalizeSelection(args[0], undefined);
    const { ids, more } = await bulk.selectTasks(this.db, selection, this.reads);
    const changed = await this.write(() => bulk.deleteTasks(this.db, selection, ids));
    return { changed: changed.length, more };
  }
  async deleteFinishedTasks(...args: Args<'deleteFinishedTasks'>) {
    return this.write(() => tasks.deleteFinishedTasks(this.db, ...args));
  }
  async changesHead() {
    return this.read(() => changes.changesHead(this.db));
  }
  async readChanges(...args: Args<'readChanges'>) {
    return this.read(() => changes.readChanges(this.db, ...args));
  }
  compareChangeIds(...args: Args<'compareChangeIds'>) {
    return changes.compareChangeIds(...args);
  }
  onChanges(...args: Args<'onChanges'>) {
    return this.changeHints.on(...args);
  }
  async deleteChangesBefore(...args: Args<'deleteChangesBefore'>) {
    return this.write(() => changes.deleteChangesBefore(this.db, ...args));
  }
  async countTasks() {
    return this.read(() => tasks.countTasks(this.db));
  }
  async foldStats() {
    return foldInBatches(() => this.write(() => stats.foldStats(this.db, new Date())));
  }
  async stats() {
    await this.foldStats();
    return this.read(() => stats.readStats(this.db, new Date()));
  }

  async createToken(...args: Args<'createToken'>) {
    const created = await this.write(() => tokens.createToken(this.db, ...args));
    this.tokenUse.created();
    return created;
  }
  async listTokens() {
    return this.read(() => tokens.listTokens(this.db));
  }
  async revokeToken(...args: Args<'revokeToken'>) {
    return this.write(() => tokens.revokeToken(this.db, ...args));
  }
  async hasTokens() {
    // Asked by every request: see TokenUse.
    return this.tokenUse.hasTokens(() => this.read(() => tokens.hasTokens(this.db)));
  }
  async verifyToken(...args: Args<'verifyToken'>) {
    const token = this.read(() => tokens.verifyToken(this.db, ...args));
    if (token) this.tokenUse.use(token.id, () => this.write(() => tokens.touchToken(this.db, token.id)));
    return token;
  }

  async ping(): Promise<boolean> {
    try {
      this.db.get(sql`select 1 from __drizzle_migrations limit 1`);
      return true;
    } catch {
      return false;
    }
  }

  async health(): Promise<Health> {
    if (!(await this.ping())) return { ok: false, detail: 'Database unavailable or not migrated' };
    const moved = this.file?.check();
    if (moved) return { ok: false, detail: moved.message };
    if (this.storageFailure) {
      // Writes failed: one that needs a new page tells whether they would succeed now. Its commit
      // clears the failure (see the GroupCommit's onStorage), for writes and health alike.
      try {
        await (this.probing ??= this.write(() => probeStorage(this.db.$client)).finally(() => (this.probing = undefined)));
      } catch (error) {
        const failure = storageErrorOf(error, this.file?.path ?? this.db.$client.name) ?? this.storageFailure;
        return { ok: false, detail: failure?.message ?? (error as Error).message };
      }
    }
    return { ok: true };
  }

  async close(): Promise<CloseResult> {
    if (!this.db.$client.open) return {};
    clearInterval(this.otherProcesses);
    this.walWatcher?.close();
    const result: CloseResult = {};
    const flushError = this.writes.flush();
    if (flushError !== undefined) result.flushError = flushError;
    try {
      this.db.$client.pragma('wal_checkpoint(TRUNCATE)');
    } catch (error) {
      // Nothing is lost: what the WAL holds is replayed into the database at the next open.
      result.checkpointError = storageErrorOf(error, this.file?.path ?? this.db.$client.name) ?? error;
    }
    this.db.$client.close();
    await this.validation.close();
    return result;
  }
}
