/**
 * Domain errors thrown by a store. The server maps each kind to one HTTP status and tRPC code
 * (see apps/server/src/errors.ts); nothing else needs to know about SQL errors.
 */
export abstract class DomainError extends Error {
  abstract readonly kind: 'not_found' | 'conflict' | 'invalid_state' | 'invalid' | 'unavailable' | 'storage';
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** The addressed task or task type does not exist. */
export class NotFoundError extends DomainError {
  readonly kind = 'not_found';
}

/** The write would break a uniqueness rule, such as a task type name that is taken. */
export class ConflictError extends DomainError {
  readonly kind = 'conflict';
}

/** The request is well formed but the current state forbids it, such as a task for an inactive type. */
export class InvalidStateError extends DomainError {
  readonly kind = 'invalid_state';
}

export const taskTypeNotFound = (id: number) => new NotFoundError(`Task type ${id} not found`);
export const taskTypeNamedNotFound = (name: string) => new NotFoundError(`Task type '${name}' not found`);
export const taskNotFound = (id: number) => new NotFoundError(`Task ${id} not found`);

/**
 * The store cannot take the request now, though it may later: too many are waiting for a
 * validation thread. Nothing was written; the caller may try again (503).
 */
export class UnavailableError extends DomainError {
  readonly kind = 'unavailable';
}

/**
 * The database cannot be written (or read) for a reason outside the request, which the message
 * names: its disk is full (`full`), or its file is unwritable, damaged, gone or replaced, or
 * locked by another process past the busy timeout (`unavailable`). `code` is the SQLite result
 * code (`SQLITE_FULL`, `SQLITE_IOERR_WRITE`, …) or file system error behind it, and `cause` the
 * error itself. What was asked for was not done, or at least not acknowledged.
 */
export class StorageError extends DomainError {
  readonly kind = 'storage';
  constructor(
    readonly reason: 'full' | 'unavailable',
    message: string,
    readonly code?: string,
    cause?: unknown,
  ) {
    super(message);
    if (cause !== undefined) this.cause = cause;
  }
}

/** The caller does not hold the task's lease any more: it expired and was claimed again, or the task was settled. */
export class LeaseLostError extends DomainError {
  readonly kind = 'conflict';
}

/** One problem with an input value: where it is (relative to the method's input) and what is wrong. */
export interface Problem {
  path: (string | number)[];
  message: string;
  type: string;
  /** Of a `too_many_problems` entry: how many problems it stands for. */
  omitted?: number;
}

/**
 * The most problems one answer lists. A small input may break a schema in far more places
 * (250 KiB of parameters, an array of 125,000 items of the wrong type, gave 10 MB of problems):
 * the ones past this are counted in one last problem instead (see limitProblems).
 */
export const MAX_PROBLEMS = 100;

/** The entry that stands for `omitted` problems not listed, at `path`. */
export const omittedProblems = (path: (string | number)[], omitted: number): Problem => ({
  path,
  message: `${omitted.toLocaleString('en-US')} more problem${omitted === 1 ? '' : 's'} not listed`,
  type: 'too_many_problems',
  omitted,
});

/**
 * The first MAX_PROBLEMS problems (with the `too_many_problems` entries among them), and one that
 * counts the others: an entry that stood for several counts as many.
 */
export function limitProblems(problems: readonly Problem[]): Problem[] {
  let listed = 0;
  const cut = problems.findIndex((problem) => problem.type !== 'too_many_problems' && ++listed > MAX_PROBLEMS);
  if (cut < 0) return [...problems];
  const omitted = problems.slice(cut).reduce((sum, problem) => sum + (problem.omitted ?? 1), 0);
  return [...problems.slice(0, cut), omittedProblems([], omitted)];
}

/** Input that is well formed but invalid for the data it refers to, such as parameters that break their type's schema. */
export class ValidationError extends DomainError {
  readonly kind = 'invalid';
  readonly problems: Problem[];
  /** At most MAX_PROBLEMS of `problems` are kept, and one that counts the others. */
  constructor(problems: readonly Problem[]) {
    const listed = limitProblems(problems);
    super(listed.map((p) => `${p.path.join('.')}: ${p.message}`).join('; '));
    this.problems = listed;
  }
}

/**
 * A reader of the log of changes asked for the changes after one that is no longer kept (deleted
 * by retention, see ChangeLog.deleteChangesBefore) or never was: some changes after it may be
 * gone, so it cannot resume there without missing them. It should reload what it shows and read
 * from the end of the log.
 */
export class ChangesExpiredError extends DomainError {
  readonly kind = 'conflict';
  constructor(readonly after: string) {
    super(`Change '${after}' is no longer in the log of changes (older than its retention, or never written): the changes after it cannot be told; reload, then follow from now (without a last event id)`);
  }
}
