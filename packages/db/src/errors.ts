/**
 * Domain errors thrown by a store. The server maps each kind to one HTTP status and tRPC code
 * (see apps/server/src/errors.ts); nothing else needs to know about SQL errors.
 */
export abstract class DomainError extends Error {
  abstract readonly kind: 'not_found' | 'conflict' | 'invalid_state';
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
export const taskNotFound = (id: number) => new NotFoundError(`Task ${id} not found`);
