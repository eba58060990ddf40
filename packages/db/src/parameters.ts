import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type * as PiscinaModule from 'piscina';
import { MAX_PROBLEMS, omittedProblems, UnavailableError, ValidationError, type Problem } from './errors.js';
import type { JsonObject, TaskType } from './types.js';

type Path = (string | number)[];

/** Found through the package, so that it holds from source and from a bundle of the server alike (see MIGRATIONS_FOLDER). */
const PACKAGE_JSON = createRequire(import.meta.url).resolve('@prismq/db/package.json');

/** The worker that runs Ajv (plain JavaScript: it is loaded by path in a new thread, with no TypeScript loader). */
export const VALIDATION_WORKER = join(dirname(PACKAGE_JSON), 'src', 'validation', 'worker.mjs');

/**
 * Piscina, loaded from this package's own dependencies at run time rather than bundled: it
 * starts its threads from a file of its own, found next to its code.
 */
const loadPiscina = () => (createRequire(PACKAGE_JSON)('piscina') as typeof PiscinaModule).Piscina;

/** A type's version, as validated against: it changes with every update of the type. */
export const typeVersion = (type: Pick<TaskType, 'created_at' | 'updated_at'>): string => type.updated_at ?? type.created_at;

/** An empty schema accepts everything: such types never reach the pool. */
export const acceptsAnything = (schema: JsonObject): boolean => Object.keys(schema).length === 0;

export interface ParameterValidatorOptions {
  /**
   * The time budget of one job (one schema check, or the parameters of one request) once a
   * thread starts it, in milliseconds; over it, the thread is stopped and the job answers a
   * ValidationError. Default 1000.
   */
  timeoutMs?: number;
  /** Threads at most; they start when first needed. Default 2. */
  maxThreads?: number;
  /** Jobs that may wait beyond one per thread; more are refused with UnavailableError. Default 128. */
  maxQueue?: number;
  /**
   * When no job has run for this long, the threads stop (until the next job, which waits for a
   * thread to start: about half a second), in milliseconds. Default 300,000.
   */
  idleTimeoutMs?: number;
}

/** What one item of a validate job asks: parameters against a type's schema, problems under `prefix`. */
export interface ParametersToValidate {
  type: TaskType;
  parameters: JsonObject;
  prefix: Path;
}

/** One schema check, or the parameters of one request, as the worker takes it (see worker.mjs). */
type JobRequest =
  | { op: 'check'; schema: JsonObject; prefix: Path; maxProblems: number }
  | { op: 'validate'; schemas: Record<string, JsonObject>; items: { key: string; parameters: JsonObject; prefix: Path }[]; maxProblems: number };

interface Job {
  id: number;
  request: JobRequest;
  /** Where and what to answer if it overruns its budget. */
  overBudget: Problem;
  /** Times it went again because another job stopped the thread under it. */
  retries: number;
  resolve(answer: unknown): void;
  reject(error: unknown): void;
}

/** One call to the pool: the jobs asked for in one turn of the event loop, run one after another by one thread. */
interface Call {
  jobs: Job[];
  controller: AbortController;
  /** The budget of the job running now. */
  timer?: NodeJS.Timeout;
  /** The job that overran its budget, if one did. */
  overran?: Job;
}

/**
 * Validates task parameters against their type's `parameters_schema` (JSON Schema, draft-07 by
 * default) and checks schemas, with Ajv, in a small pool of worker threads (./validation/worker.mjs):
 * validation can cost far more than its input's size suggests, so it never runs on the main thread,
 * and each job has a time budget. Each type's schema is compiled once per version of the type
 * and thread, and cached there.
 *
 * The jobs asked for in one turn of the event loop go to the pool as one call, and their answers
 * come back together: concurrent creates still share a group commit (one fsync), as they did when
 * validation ran in the write, and pay one thread hop between them. The thread says when it
 * starts each job, and each job's budget runs from then; when one overruns, only it answers over
 * budget: the others of its call go again.
 */
export class ParameterValidator {
  readonly timeoutMs: number;
  private readonly options: Required<Omit<ParameterValidatorOptions, 'timeoutMs'>>;
  private pool: PiscinaModule.Piscina | undefined;
  private jobIds = 0;
  /** Jobs not yet answered: waiting, sent or running. */
  private unanswered = 0;
  /** Jobs asked for in this turn of the event loop, sent to the pool at its end. */
  private waiting: Job[] = [];
  private scheduled = false;
  /** The calls sent to the pool, by the id of each of their jobs: what a thread's `{ started }` refers to. */
  private readonly sent = new Map<number, { call: Call; job: Job }>();
  private idle: NodeJS.Timeout | undefined;

  constructor(options: ParameterValidatorOptions = {}) {
    this.timeoutMs = options.timeoutMs ?? 1000;
    this.options = { maxThreads: options.maxThreads ?? 2, maxQueue: options.maxQueue ?? 128, idleTimeoutMs: options.idleTimeoutMs ?? 300_000 };
  }

  /** Problems with a schema itself, as found under `prefix`; empty when it is a usable JSON Schema. */
  async checkSchema(schema: JsonObject, prefix: Path = ['parameters_schema']): Promise<Problem[]> {
    if (acceptsAnything(schema)) return [];
    const message = `compiling the schema took longer than ${this.timeoutMs} ms; simplify the schema`;
    try {
      return worded(await this.submit<Problem[]>({ op: 'check', schema, prefix, maxProblems: MAX_PROBLEMS }, { path: prefix, message, type: 'schema.timeout' }));
    } catch (error) {
      if (error instanceof ValidationError) return error.problems; // over budget
      throw error;
    }
  }

  /** Throws ValidationError (paths under `prefix`) when `parameters` break the type's schema. */
  async validate(type: TaskType, parameters: JsonObject, prefix: Path = ['parameters']): Promise<void> {
    const [problems] = await this.problems([{ type, parameters, prefix }], prefix);
    if (problems!.length) throw new ValidationError(problems!);
  }

  /**
   * The problems of each item, in order (empty for valid parameters), found in one job. A job
   * over its budget throws ValidationError with one problem at `prefix`.
   */
  async problems(items: ParametersToValidate[], prefix: Path): Promise<Problem[][]> {
    const sent = items.filter(({ type }) => !acceptsAnything(type.parameters_schema));
    if (sent.length === 0) return items.map(() => []);
    const schemas: Record<string, JsonObject> = {};
    const keyOf = (type: TaskType) => `${type.id}@${typeVersion(type)}`;
    for (const { type } of sent) schemas[keyOf(type)] = type.parameters_schema;
    const request: JobRequest = {
      op: 'validate',
      schemas,
      items: sent.map(({ type, parameters, prefix }) => ({ key: keyOf(type), parameters, prefix })),
      maxProblems: MAX_PROBLEMS,
    };
    const message = `validation took longer than ${this.timeoutMs} ms; simplify the schema or the parameters`;
    const answers = (await this.submit<Problem[][]>(request, { path: prefix, message, type: 'schema.timeout' })).values();
    return items.map(({ type }) => (acceptsAnything(type.parameters_schema) ? [] : worded(answers.next().value!)));
  }

  /** Stops the threads; jobs not yet answered fail. */
  async close(): Promise<void> {
    clearTimeout(this.idle);
    for (const job of this.waiting.splice(0)) job.reject(new Error('The parameter validator was closed'));
    const pool = this.pool;
    this.pool = undefined;
    await pool?.destroy();
  }

  private async submit<T>(request: JobRequest, overBudget: Problem): Promise<T> {
    // Counted here: piscina applies its maxQueue only to calls without an AbortSignal, and counts calls, not jobs.
    if (this.unanswered >= this.options.maxThreads + this.options.maxQueue) throw unavailable();
    clearTimeout(this.idle);
    this.unanswered++;
    try {
      return await new Promise<T>((resolve, reject) => {
        this.enqueue({ id: ++this.jobIds, request, overBudget, retries: 0, resolve: resolve as (answer: unknown) => void, reject });
      });
    } finally {
      if (--this.unanswered === 0) this.idle = setTimeout(() => void this.close(), this.options.idleTimeoutMs).unref();
    }
  }

  private enqueue(job: Job): void {
    this.waiting.push(job);
    if (this.scheduled) return;
    this.scheduled = true;
    // After the current poll phase: the jobs of every request read from the sockets in it go together.
    setImmediate(() => this.send());
  }

  private send(): void {
    this.scheduled = false;
    const jobs = this.waiting.splice(0);
    if (jobs.length === 0) return;
    const pool = (this.pool ??= this.newPool());
    const call: Call = { jobs, controller: new AbortController() };
    for (const job of jobs) this.sent.set(job.id, { call, job });
    const request = { jobs: jobs.map((job) => ({ ...job.request, job: job.id })) };
    pool.run(request, { signal: call.controller.signal }).then(
      (answers: unknown[]) => {
        this.done(call);
        jobs.forEach((job, index) => job.resolve(answers[index]));
      },
      (error: unknown) => {
        this.done(call);
        // Aborted: one job overran, and the thread was stopped (piscina replaces it). The others
        // were answered before it (then they are cheap) or never started: they go again.
        if (call.overran) {
          for (const job of jobs) {
            if (job === call.overran) job.reject(new ValidationError([job.overBudget]));
            else if (++job.retries > RETRIES) job.reject(unavailable());
            else this.enqueue(job);
          }
          return;
        }
        const failure = isQueueFull(error) ? unavailable() : error;
        for (const job of jobs) job.reject(failure);
      },
    );
  }

  /** A thread starts a job: its budget runs from now, and the job before it in its call is done. */
  private started(id: number): void {
    const sent = this.sent.get(id);
    if (!sent) return; // its call was answered already
    const { call, job } = sent;
    clearTimeout(call.timer);
    call.timer = setTimeout(() => {
      call.overran = job;
      call.controller.abort();
    }, this.timeoutMs);
  }

  private done(call: Call): void {
    clearTimeout(call.timer);
    for (const job of call.jobs) this.sent.delete(job.id);
  }

  private newPool(): PiscinaModule.Piscina {
    const Piscina = loadPiscina();
    const pool = new Piscina({
      filename: VALIDATION_WORKER,
      // At least one: piscina replaces a thread stopped over budget only up to minThreads, and
      // with none, calls queued behind it would wait for the next call. The pool itself starts
      // on the first job and stops when idle (see submit): an idle server has no extra threads.
      minThreads: 1,
      maxThreads: this.options.maxThreads,
      maxQueue: this.options.maxQueue,
      idleTimeout: this.options.idleTimeoutMs,
    });
    // A thread that fails between calls (none of ours is waiting on it) is replaced; say nothing.
    pool.on('error', () => {});
    // A thread's word as it starts each job, `{ started }`; one may come after its call's answer: then it is ignored.
    pool.on('message', (message: { started?: number }) => {
      if (typeof message?.started === 'number') this.started(message.started);
    });
    return pool;
  }
}

/** The thread counts the problems past MAX_PROBLEMS (see worker.mjs); the message that says so is written here. */
const worded = (problems: Problem[]): Problem[] => problems.map((p) => (p.type === 'too_many_problems' ? omittedProblems(p.path, p.omitted ?? 0) : p));

/** How many times a job goes again after another job's overrun stopped the thread under it. */
const RETRIES = 3;

const unavailable = () => new UnavailableError('Too many requests are waiting for parameter validation; try again shortly');

const isQueueFull = (error: unknown) =>
  error instanceof Error && (error.message === 'Task queue is at limit' || error.message.startsWith('No task queue available'));
