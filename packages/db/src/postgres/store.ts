import { randomUUID } from 'node:crypto';
import { declareTaskType } from '../declare.js';
import { StorageError } from '../errors.js';
import { foldInBatches } from '../rules/stats.js';
import { StoreSignals, countByType, type ExpiredLeases } from '../events.js';
import { CANCELLABLE, RETRYABLE, normalizeSelection } from '../rules/index.js';
import { ParameterValidator } from '../parameters.js';
import type { CloseResult, CreatedTask, Health, TaskCreate, TaskStore, TaskUpdate } from '../store.js';
import type { TaskType } from '../types.js';
import { WriteValidation, type CheckedParameters } from '../validation.js';
import * as attempts from './attempts.js';
import { DEFAULT_POOL_SIZE, type PgClient, type PgClientOptions, type Queryable } from './client.js';
import * as bulk from './bulk.js';
import * as counts from './counts.js';
import { openPostgres } from './database.js';
import * as notify from './notify.js';
import * as pages from './pages.js';
import { CHANNEL, NOTIFY, parsePayload, payload, type Claimable } from './notify.js';
import * as queue from './queue.js';
import * as stats from './stats.js';
import { describeUrl, isConnectionLost, probeStorage, storageErrorOf } from './storage.js';
import * as taskTypes from './task-types.js';
import * as tasks from './tasks.js';
import * as tokens from './tokens.js';
import * as changes from './changes.js';
import { ChangeHints } from '../changes.js';
import { ChangeListeners } from './change-listeners.js';
import { WaitingClaims } from './waiting-claims.js';
import { Turns } from '../turns.js';

/** How long health() waits for the database to answer before it says it does not. */
const HEALTH_TIMEOUT_MS = 2000;

/** How soon readers of the log look again when a read left changes of running transactions for later. */
const HELD_BACK_RETRY_MS = 20;

export interface PostgresTaskStoreOptions extends PgClientOptions {
  /**
   * The time budget, in milliseconds, of validating one request's task parameters, or of checking
   * one `parameters_schema`, in a worker thread (see ParameterValidator). Default 1000.
   */
  validationTimeoutMs?: number | undefined;
  /**
   * How often, while claims wait, the store looks for claimable tasks that no notification told
   * it of (see WaitingClaims), in milliseconds. Default 1000.
   */
  wakeCheckMs?: number | undefined;
}

/**
 * The pool's connections that list pages and bulk actions may hold at once: half of them (at
 * least one). Their cost depends on the filter: one that matches few of many tasks walks an index
 * for seconds. The others wait their turn, so that the queue (claims, completions, creates)
 * always finds a connection.
 */
export const scanTurnsOf = (poolSize: number): number => Math.max(1, Math.floor(poolSize / 2));

type Args<K extends keyof TaskStore> = TaskStore[K] extends (...args: infer A) => unknown ? A : never;

/**
 * The store on PostgreSQL: the same API, behaviour and errors as SQLite's (see TaskStore), for
 * several server replicas sharing one database. Writes are transactions on a connection pool;
 * waiting claims learn of work from the other replicas by LISTEN/NOTIFY (see WaitingClaims);
 * the periodic work (the lease sweep, retention, folding the counts) runs in one replica at a
 * time under advisory locks. Open it with `PostgresTaskStore.open(url)`: it applies the
 * migrations first.
 */
export class PostgresTaskStore extends StoreSignals implements TaskStore {
  private readonly validation: WriteValidation;
  protected readonly waiting: WaitingClaims;
  /** Names this store in its notifications, so that it ignores its own. */
  private readonly origin = randomUUID();
  /** Where the database is, for messages (no password). */
  private readonly where: string;
  /** Why the latest write that failed for storage failed, until a write commits again; see health. */
  private storageFailure: StorageError | undefined;
  /** Why the latest call that failed for storage failed, until a call succeeds: what health says when the database does not answer in time. */
  private lastFailure: StorageError | undefined;
  /** The probe write that health runs, while one is on its way. */
  private probing: Promise<void> | undefined;
  private unlisten: (() => Promise<void>) | undefined;
  /**
   * Task types as last read here, by id: creates check parameters against them without reading
   * the type first. One that changed since (here or elsewhere) is caught inside the write, which
   * locks the type and compares its version: the create then reads it again.
   */
  private readonly types = new Map<number, TaskType>();
  private closed = false;
  /** Turns for list pages and bulk actions (see scanTurnsOf). */
  private readonly scans: Turns;
  /** Tells readers of the log of changes that it may have grown: after every write here, and when another replica notifies. */
  private readonly changeHints: ChangeHints;
  /** Asks the other replicas to notify while this store has readers of the log (see ChangeListeners). */
  private readonly changeListeners: ChangeListeners;
  /** A look again that readChanges asked for, when it left changes of running transactions for later. */
  private heldBack: NodeJS.Timeout | undefined;

  private constructor(
    readonly db: PgClient,
    url: string,
    options: PostgresTaskStoreOptions,
  ) {
    super();
    this.where = describeUrl(url);
    this.scans = new Turns(scanTurnsOf(options.poolSize ?? DEFAULT_POOL_SIZE));
    this.validation = new WriteValidation(new ParameterValidator({ timeoutMs: options.validationTimeoutMs }));
    this.changeListeners = new ChangeListeners(this.db, this.origin, () => this.changeHints.grew());
    this.changeHints = new ChangeHints((active) => this.changeListeners.readers(active));
    this.waiting = new WaitingClaims({
      checkMs: options.wakeCheckMs ?? 1000,
      list: () => notify.listen(this.db, this.origin),
      unlist: () => notify.unlisten(this.db, this.origin),
      claimableTypes: () => queue.claimableTypes(this.db),
      onWoken: () => this.events.available(),
    });
  }

  /** Connects to the database at `url` (`postgres://…`), applies pending migrations and starts listening. */
  static async open(url: string, options: PostgresTaskStoreOptions = {}): Promise<PostgresTaskStore> {
    let db: PgClient;
    try {
      db = await openPostgres(url, options);
    } catch (error) {
      throw storageErrorOf(error, describeUrl(url)) ?? error;
    }
    const store = new PostgresTaskStore(db, url, options);
    try {
      await store.listen();
    } catch (error) {
      await store.close();
      throw storageErrorOf(error, store.where) ?? error;
    }
    return store;
  }

  private async listen(): Promise<void> {
    let connected = false;
    this.unlisten = await this.db.listen(
      CHANNEL,
      (text) => {
        const notice = parsePayload(text);
        if (!notice || notice.origin === this.origin) return; // our own: told already, at our commit
        this.claimable(notice.claimable);
      },
      () => {
        // Connected again after losing the connection: notifications may have been missed.
        if (connected) {
          this.waiting.relist();
          this.claimable('all');
        }
        connected = true;
      },
    );
  }

  /** After a commit, here or elsewhere, that may have made tasks claimable: tells the claims. */
  private claimable(claimable: Claimable): void {
    this.events.available();
    this.waiting.wake(claimable);
  }

  /** Runs a read or a write, a storage failure thrown as StorageError; see health for `write`. */
  private async run<T>(write: boolean, work: () => Promise<T>): Promise<T> {
    try {
      const value = await work();
      if (write) this.storageFailure = undefined;
      if (write && this.changeHints.active) this.changeHints.grew();
      this.lastFailure = undefined;
      return value;
    } catch (error) {
      const failure = storageErrorOf(error, this.where);
      if (!failure) throw error;
      if (write) this.storageFailure = failure;
      this.lastFailure = failure;
      throw failure;
    }
  }

  /**
   * Runs a read; once more on a new connection when the one it ran on was lost (the server
   * restarted, a failover, an idle connection cut): a read can be repeated, a write cannot.
   */
  private async read<T>(work: (db: PgClient) => Promise<T>): Promise<T> {
    try {
      return await this.run(false, () => work(this.db));
    } catch (error) {
      if (!(error instanceof StorageError && isConnectionLost(error))) throw error;
      return this.run(false, () => work(this.db));
    }
  }

  private write<T>(work: (db: PgClient) => Promise<T>): Promise<T> {
    return this.run(true, () => work(this.db));
  }

  /**
   * A notification to send inside a write, and the claims to wake here once it has committed:
   * `notify` goes to the write, `committed()` runs after it.
   */
  private notice(): { notify: tasks.Notify; committed: () => void } {
    let told: Claimable | undefined;
    return {
      notify: async (tx: Queryable, claimable: Map<number, number>) => {
        told = claimable;
        await tx.query(NOTIFY, [CHANNEL, payload(this.origin, claimable)]);
      },
      committed: () => {
        if (told) this.claimable(told);
      },
    };
  }

  private expired(expired: ExpiredLeases): number {
    const changed = this.events.expired(expired);
    // Tasks back to pending: every claim waiting for their types looks again.
    if (expired.released.size) this.claimable(new Map([...expired.released.keys()].map((id) => [id, 0])));
    return changed;
  }

  /** Remembers a type as read: its name for claims by name, itself for creates. */
  private learn<T extends TaskType | TaskType[]>(types: T): T {
    for (const type of Array.isArray(types) ? types : [types]) {
      this.waiting.learn(type.id, type.name);
      this.types.set(type.id, type);
    }
    return types;
  }

  /**
   * Validates the parameters of the creates that will need it (see WriteValidation), against the
   * types as last read here, or, when `fresh`, as they are now.
   */
  private async checkCreates(inputs: TaskCreate[], batch: boolean, fresh: boolean): Promise<Map<number, CheckedParameters>> {
    tasks.refuseNulInCreates(inputs, batch);
    const known = new Map(fresh ? [] : inputs.flatMap(({ task_type_id: id }) => (this.types.has(id) ? [[id, this.types.get(id)!] as const] : [])));
    const pending = await this.read((db) => tasks.parametersToCheck(db, inputs, known));
    this.learn([...known.values()]);
    return this.validation.checkCreates(pending, batch);
  }

  /** Validates an update's new parameters, if any, against the task's type. */
  private async checkUpdate(id: number, patch: TaskUpdate): Promise<CheckedParameters | undefined> {
    if (patch.parameters === undefined) return undefined;
    return this.validation.checkUpdate(await this.read((db) => tasks.typeOfTask(db, id)), patch.parameters);
  }

  async createTaskType(...args: Args<'createTaskType'>) {
    await this.validation.checkSchema(args[0].parameters_schema);
    return this.learn(await this.write((db) => taskTypes.createTaskType(db, ...args)));
  }
  async listTaskTypes(...args: Args<'listTaskTypes'>) {
    return this.learn(await this.read((db) => taskTypes.listTaskTypes(db, ...args)));
  }
  async getTaskType(...args: Args<'getTaskType'>) {
    return this.learn(await this.read((db) => taskTypes.getTaskType(db, ...args)));
  }
  async declareTaskType(...args: Args<'declareTaskType'>) {
    return declareTaskType(this, ...args);
  }
  async getTaskTypeByName(...args: Args<'getTaskTypeByName'>) {
    return this.learn(await this.read((db) => taskTypes.getTaskTypeByName(db, ...args)));
  }
  async updateTaskType(...args: Args<'updateTaskType'>) {
    await this.validation.checkSchema(args[1].parameters_schema);
    const { notify, committed } = this.notice();
    const type = this.learn(await this.write((db) => taskTypes.updateTaskType(db, ...args, (tx) => notify(tx, new Map([[args[0], 0]])))));
    committed();
    this.events.available();
    return type;
  }
  async deactivateTaskType(...args: Args<'deactivateTaskType'>) {
    this.types.delete(args[0]);
    await this.write((db) => taskTypes.deactivateTaskType(db, ...args));
  }

  /**
   * Creates tasks, validating their parameters first: see TaskRecordStore.createTask. A single
   * create of a type known here tries the one-statement way first (createTaskAtOnce).
   */
  private async create(inputs: TaskCreate[], batch: boolean): Promise<CreatedTask[]> {
    const { notify, committed } = this.notice();
    let attempts = 0;
    const created = await this.validation.retrying(async () => {
      const fresh = attempts++ > 0;
      const checked = await this.checkCreates(inputs, batch, fresh);
      const known = batch ? undefined : this.types.get(inputs[0]!.task_type_id);
      if (known && !fresh) {
        const once = await this.write((db) => tasks.createTaskAtOnce(db, inputs[0]!, known, checked.get(0), this.origin));
        if (once) {
          this.claimable(new Map([[once.task.task_type_id, 1]]));
          return [once];
        }
      }
      return this.write((db) => tasks.createTasks(db, inputs, checked, batch, notify));
    });
    committed();
    this.events.available();
    return created;
  }

  async createTask(...args: Args<'createTask'>) {
    const [created] = await this.create([args[0]], false);
    if (created!.created) this.events.task('created', created!.task);
    return created!;
  }
  async createTasks(...args: Args<'createTasks'>) {
    const created = (await this.create(args[0], true)).map(({ task }) => task);
    this.events.task('created', created);
    return created;
  }
  async listTasks(...args: Args<'listTasks'>) {
    return (await this.scans.run(() => this.read((db) => pages.listTaskPage(db, ...args)))).items;
  }
  async listTaskPage(...args: Args<'listTaskPage'>) {
    return this.scans.run(() => this.read((db) => pages.listTaskPage(db, ...args)));
  }
  async getTask(...args: Args<'getTask'>) {
    return this.read((db) => tasks.getTask(db, ...args));
  }
  async listAttempts(...args: Args<'listAttempts'>) {
    return this.read((db) => attempts.listAttempts(db, ...args));
  }
  async updateTask(...args: Args<'updateTask'>) {
    const [id, patch] = args;
    const { notify, committed } = this.notice();
    const updated = await this.validation.retrying(async () => {
      const checked = await this.checkUpdate(id, patch);
      return this.write((db) => tasks.updateTask(db, id, patch, checked, notify));
    });
    committed();
    this.events.available();
    return updated;
  }
  async deleteTask(...args: Args<'deleteTask'>) {
    await this.write((db) => tasks.deleteTask(db, ...args));
  }

  async claimTasks(...args: Args<'claimTasks'>) {
    const { tasks: claimed, expired } = await this.write((db) => queue.claimTasks(db, ...args, this.origin));
    this.expired(expired);
    this.events.task('claimed', claimed);
    return claimed;
  }
  async exchange(...args: Args<'exchange'>) {
    const { settled, tasks: claimed, expired } = await this.write((db) => queue.exchange(db, ...args, this.origin));
    this.expired(expired);
    this.events.settled(settled);
    this.events.task('claimed', claimed);
    // Retries come due after their backoff: waiting claims look again, to set their timers by them.
    const retried = settled.flatMap((outcome) => ('status' in outcome && outcome.status === 'pending' ? [outcome.task_type_id] : []));
    if (retried.length) this.claimable(new Map(retried.map((typeId) => [typeId, 0])));
    return { settled, tasks: claimed };
  }
  async nextClaimableAt(...args: Args<'nextClaimableAt'>) {
    return this.read((db) => queue.nextClaimableAt(db, ...args));
  }
  async heartbeatTask(...args: Args<'heartbeatTask'>) {
    return this.write((db) => queue.heartbeatTask(db, ...args));
  }
  async completeTask(...args: Args<'completeTask'>) {
    const task = await this.write((db) => queue.completeTask(db, ...args));
    this.events.task('completed', task);
    return task;
  }
  async failTask(...args: Args<'failTask'>) {
    const task = await this.write((db) => queue.failTask(db, ...args, this.origin));
    this.events.task(task.status === 'failed' ? 'failed' : 'retried', task);
    // A retry comes due after its backoff: waiting claims look again, to set their timers by it.
    if (task.status === 'pending') this.claimable(new Map([[task.task_type_id, 0]]));
    return task;
  }
  async cancelTask(...args: Args<'cancelTask'>) {
    const task = await this.write((db) => queue.cancelTask(db, ...args));
    this.events.task('cancelled', task);
    return task;
  }
  async retryTask(...args: Args<'retryTask'>) {
    const task = await this.write((db) => queue.retryTask(db, ...args, this.origin));
    this.events.task('retried', task);
    this.claimable(new Map([[task.task_type_id, 1]]));
    return task;
  }
  async sweepExpiredLeases() {
    const changed = this.expired(await this.write((db) => queue.sweepExpiredLeases(db, this.origin)));
    // The counts' deltas are folded on a schedule too, however seldom anyone reads them.
    await this.write((db) => counts.foldTaskCounts(db));
    return changed;
  }
  async deleteFinishedTasks(...args: Args<'deleteFinishedTasks'>) {
    return this.write((db) => tasks.deleteFinishedTasks(db, ...args));
  }
  async retryTasks(...args: Args<'retryTasks'>) {
    const selection = normalizeSelection(args[0], RETRYABLE);
    const { notify, committed } = this.notice();
    const { changed, more } = await this.scans.run(() => this.write((db) => bulk.retryTasks(db, selection, notify)));
    // Pending again: waiting claims are told, here and elsewhere, as after retryTask.
    committed();
    this.events.task('retried', countByType(changed));
    return { changed: changed.length, more };
  }
  async cancelTasks(...args: Args<'cancelTasks'>) {
    const { changed, more } = await this.scans.run(() => this.write((db) => bulk.cancelTasks(db, normalizeSelection(args[0], CANCELLABLE))));
    this.events.task('cancelled', countByType(changed));
    return { changed: changed.length, more };
  }
  async deleteTasks(...args: Args<'deleteTasks'>) {
    const { changed, more } = await this.scans.run(() => this.write((db) => bulk.deleteTasks(db, normalizeSelection(args[0], undefined))));
    return { changed: changed.length, more };
  }
  async changesHead() {
    return this.read((db) => changes.changesHead(db));
  }
  async readChanges(...args: Args<'readChanges'>) {
    const { changes: read, held } = await this.read((db) => changes.readChanges(db, ...args));
    // Changes of transactions still running wait for them (see ./changes.ts): readers look
    // again shortly, since a transaction that logged nothing sends no notification when it ends.
    if (held && !this.heldBack && !this.closed) {
      this.heldBack = setTimeout(() => {
        this.heldBack = undefined;
        this.changeHints.grew();
      }, HELD_BACK_RETRY_MS).unref();
    }
    return read;
  }
  compareChangeIds(...args: Args<'compareChangeIds'>) {
    return changes.compareChangeIds(...args);
  }
  onChanges(...args: Args<'onChanges'>) {
    return this.changeHints.on(...args);
  }
  async deleteChangesBefore(...args: Args<'deleteChangesBefore'>) {
    return this.write((db) => changes.deleteChangesBefore(db, ...args));
  }
  async countTasks() {
    return this.read((db) => counts.countTasks(db));
  }
  async foldStats() {
    return foldInBatches(() => this.write((db) => stats.foldStats(db, new Date())));
  }
  async stats() {
    await this.foldStats();
    return this.read((db) => stats.readStats(db, new Date()));
  }

  async createToken(...args: Args<'createToken'>) {
    const created = await this.write((db) => tokens.createToken(db, ...args));
    this.tokenUse.created();
    return created;
  }
  async listTokens() {
    return this.read((db) => tokens.listTokens(db));
  }
  async revokeToken(...args: Args<'revokeToken'>) {
    return this.write((db) => tokens.revokeToken(db, ...args));
  }
  async hasTokens() {
    // Asked by every request: see TokenUse.
    return this.tokenUse.hasTokens(() => this.read((db) => tokens.hasTokens(db)));
  }
  async verifyToken(...args: Args<'verifyToken'>) {
    const token = await this.read((db) => tokens.verifyToken(db, ...args));
    if (token) this.tokenUse.use(token.id, () => this.write((db) => tokens.touchToken(db, token.id)));
    return token;
  }

  /** Whether the database answers, with the migrations applied, within HEALTH_TIMEOUT_MS; throws why not. */
  private async answers(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(
      // Waiting for a connection: why the latest one failed, if one did.
      () => reject(this.lastFailure ?? new StorageError('unavailable', `The database is unavailable: PostgreSQL at ${this.where} did not answer within ${HEALTH_TIMEOUT_MS} ms`)),
      HEALTH_TIMEOUT_MS,
    );
    });
    try {
      await Promise.race([this.read((db) => db.query('SELECT 1 FROM "drizzle"."__drizzle_migrations" LIMIT 1')), late]);
    } finally {
      clearTimeout(timer);
    }
  }

  async ping(): Promise<boolean> {
    try {
      await this.answers();
      return true;
    } catch {
      return false;
    }
  }

  async health(): Promise<Health> {
    try {
      await this.answers();
    } catch (error) {
      return { ok: false, detail: (storageErrorOf(error, this.where) ?? (error as Error)).message };
    }
    if (this.storageFailure) {
      // Writes failed for storage: one that needs new space tells whether they would succeed now.
      try {
        await (this.probing ??= this.write((db) => db.transaction(probeStorage)).finally(() => (this.probing = undefined)));
      } catch (error) {
        return { ok: false, detail: (storageErrorOf(error, this.where) ?? this.storageFailure ?? (error as Error)).message };
      }
    }
    return { ok: true };
  }

  /** Stops listening and closes every connection; never throws. Nothing is queued here: every write is committed or failed already. */
  async close(): Promise<CloseResult> {
    if (this.closed) return {};
    this.closed = true;
    await this.waiting.close();
    clearTimeout(this.heldBack);
    await this.changeListeners.close();
    await this.unlisten?.().catch(() => {});
    await this.db.end().catch(() => {});
    await this.validation.close().catch(() => {});
    return {};
  }
}
