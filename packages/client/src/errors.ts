/**
 * Errors as values a program can branch on: every error of a call through the client is a
 * PrismqError of the class of its case, over tRPC calls, live events and the worker's reports
 * alike.
 *
 * ```ts
 * try {
 *   await prismq.tasks.complete.mutate({ task_id, worker_id, lease_id, result });
 * } catch (error) {
 *   if (error instanceof LeaseLostError) return; // another worker has the task now
 *   if (error instanceof ValidationError) console.error(error.problems);
 *   throw error;
 * }
 * ```
 *
 * Each class also has a `kind` string, for a `switch`. They extend tRPC's TRPCClientError, so
 * `errorInfo(error)` and code written for plain tRPC errors go on working.
 */
import { TRPCClientError, type TRPCLink } from '@trpc/client';
import { observable } from '@trpc/server/observable';
import type { AppRouter, Detail, ErrorReason, ValidationProblem } from '@prismq/api';

export type { Detail, ErrorReason, ValidationProblem };

/** Every case, as a string: `error.kind`. */
export type PrismqErrorKind =
  | 'not_found'
  | 'conflict'
  | 'lease_lost'
  | 'invalid_state'
  | 'validation'
  | 'unauthorized'
  | 'forbidden'
  | 'rate_limited'
  | 'unavailable'
  | 'connection'
  | 'too_large'
  | 'server';

/** What the server said of an error: its HTTP status, `detail`, and for some 409s and 507 a `reason`. */
export interface ErrorAnswer {
  status: number;
  detail: Detail;
  reason?: ErrorReason | undefined;
}

interface ErrorOptions {
  /** The tRPC error this one stands for, whose shape, data and response meta it keeps. */
  from?: TRPCClientError<AppRouter>;
  cause?: unknown;
}

/** An error of the API: `status` is the HTTP status (0 when no answer came), `detail` what the server said. */
export class PrismqError extends TRPCClientError<AppRouter> {
  readonly kind: PrismqErrorKind = 'server';
  /** The HTTP status, on REST and tRPC alike; 0 when the server could not be reached. */
  readonly status: number;
  /** The server's `detail`: a sentence, or for a validation error (422) the list of problems. */
  readonly detail: Detail;
  /** What tells apart errors of one status: `lease_lost` and `changes_expired` (409), `storage_full` (507). */
  readonly reason: ErrorReason | undefined;

  constructor(answer: ErrorAnswer, options: ErrorOptions = {}) {
    const message = typeof answer.detail === 'string' ? answer.detail : answer.detail.map((p) => `${p.loc.join('.')}: ${p.msg}`).join('; ');
    const from = options.from;
    const cause = options.cause ?? from?.cause;
    super(message, {
      ...(from?.shape ? { result: { error: from.shape } } : {}),
      ...(cause instanceof Error ? { cause } : {}),
      ...(from?.meta ? { meta: from.meta } : {}),
    });
    // TRPCClientError's constructor sets its own prototype (for ES5 targets), which would make
    // every subclass a plain TRPCClientError to instanceof.
    Object.setPrototypeOf(this, new.target.prototype);
    this.name = new.target.name;
    this.status = answer.status;
    this.detail = answer.detail;
    this.reason = answer.reason;
    if (from?.stack) this.stack = from.stack;
  }

  /** Worth trying the same call again later: rate limited (429), unavailable (503, 507), unreachable, or timed out (408). */
  get retryable(): boolean {
    return this.kind === 'rate_limited' || this.kind === 'unavailable' || this.kind === 'connection' || this.status === 408;
  }
}

/** 404: the task or task type does not exist (or no longer does). */
export class NotFoundError extends PrismqError {
  override readonly kind: PrismqErrorKind = 'not_found';
}

/** 409: the write breaks a uniqueness rule (a task type name that is taken), or a live events' resume point is gone (`reason` `changes_expired`). */
export class ConflictError extends PrismqError {
  override readonly kind: PrismqErrorKind = 'conflict';
}

/**
 * 409 with reason `lease_lost`: the worker no longer holds the task's lease: the task was
 * completed, failed or cancelled, or its lease expired and another worker claimed it. Stop work on
 * it; its outcome is not recorded.
 */
export class LeaseLostError extends ConflictError {
  override readonly kind: PrismqErrorKind = 'lease_lost';
}

/** 400: well formed, but the current state forbids it (a task of an inactive type, a task that cannot be retried now). */
export class InvalidStateError extends PrismqError {
  override readonly kind: PrismqErrorKind = 'invalid_state';
}

/** 422: the input breaks the API's rules or the task type's parameters schema; `problems` lists each. */
export class ValidationError extends PrismqError {
  override readonly kind: PrismqErrorKind = 'validation';
  /** One per problem: where (`loc`, e.g. `["input", "parameters", "to"]`), what (`msg`) and its kind (`type`). */
  get problems(): ValidationProblem[] {
    return typeof this.detail === 'string' ? [{ loc: [], msg: this.detail, type: 'invalid' }] : this.detail;
  }
}

/** 401: no token, or one the server does not know (or revoked). */
export class UnauthorizedError extends PrismqError {
  override readonly kind: PrismqErrorKind = 'unauthorized';
}

/** 403: the token's scopes do not grant this operation. */
export class ForbiddenError extends PrismqError {
  override readonly kind: PrismqErrorKind = 'forbidden';
}

/** 429: too many requests of this kind at once (long polls, live event streams); try again after `retryAfterSeconds`. */
export class RateLimitedError extends PrismqError {
  override readonly kind: PrismqErrorKind = 'rate_limited';
  /** The server's Retry-After, in seconds, when it sent one. */
  get retryAfterSeconds(): number | undefined {
    return retryAfterOf(this);
  }
}

/** 503 or 507: the server cannot take the request now (storage unavailable, disk full: `reason` `storage_full`, overloaded); nothing was done. */
export class UnavailableError extends PrismqError {
  override readonly kind: PrismqErrorKind = 'unavailable';
  get retryAfterSeconds(): number | undefined {
    return retryAfterOf(this);
  }
}

/** No answer: the server could not be reached, or the connection broke (status 0). Whether a write took effect is unknown. */
export class ConnectionError extends UnavailableError {
  override readonly kind: PrismqErrorKind = 'connection';
}

/** 413: the request or an answer is larger than the server takes. */
export class TooLargeError extends PrismqError {
  override readonly kind: PrismqErrorKind = 'too_large';
}

function retryAfterOf(error: PrismqError): number | undefined {
  const response = (error.meta as { response?: { headers?: { get?(name: string): string | null } } } | undefined)?.response;
  const value = Number(response?.headers?.get?.('retry-after') ?? NaN);
  return Number.isFinite(value) ? value : undefined;
}

/** The error class of an answer. */
export function errorFor(answer: ErrorAnswer, options: ErrorOptions = {}): PrismqError {
  switch (answer.status) {
    case 0:
      return new ConnectionError(answer, options);
    case 400:
      return new InvalidStateError(answer, options);
    case 401:
      return new UnauthorizedError(answer, options);
    case 403:
      return new ForbiddenError(answer, options);
    case 404:
      return new NotFoundError(answer, options);
    case 409:
      return answer.reason === 'lease_lost' ? new LeaseLostError(answer, options) : new ConflictError(answer, options);
    case 413:
      return new TooLargeError(answer, options);
    case 422:
      return new ValidationError(answer, options);
    case 429:
      return new RateLimitedError(answer, options);
    case 503:
    case 507:
      return new UnavailableError(answer, options);
    default:
      return new PrismqError(answer, options);
  }
}

const isAbort = (error: unknown): boolean => error instanceof Error && (error.name === 'AbortError' || isAbort(error.cause));

/**
 * The PrismqError for an error of a tRPC call: by the HTTP status and detail the server sent, or a
 * ConnectionError when no answer came. An aborted call (its signal) stays as tRPC reports it.
 */
export function toPrismqError(error: unknown): unknown {
  if (error instanceof PrismqError || !(error instanceof TRPCClientError)) return error;
  const from = error as TRPCClientError<AppRouter>;
  const data = from.data as { httpStatus?: number; detail?: Detail; reason?: ErrorReason } | undefined;
  if (data?.httpStatus !== undefined) {
    return errorFor({ status: data.httpStatus, detail: data.detail ?? from.message, reason: data.reason }, { from });
  }
  if (isAbort(error)) return error;
  // No tRPC error in the answer: the request failed on its way (refused, reset, DNS), or what
  // came back was not the API (a proxy's error page): its status, when there was one.
  const status = (from.meta as { response?: { status?: number } } | undefined)?.response?.status ?? 0;
  return errorFor({ status, detail: status === 0 ? `cannot reach the server: ${from.message}` : from.message }, { from });
}

/** A link that turns every error of a call into its PrismqError class (see toPrismqError). */
export function errorLink(): TRPCLink<AppRouter> {
  return () =>
    ({ next, op }) =>
      observable((observer) => {
        const subscription = next(op).subscribe({
          next: (value) => observer.next(value),
          error: (error) => observer.error(toPrismqError(error) as TRPCClientError<AppRouter>),
          complete: () => observer.complete(),
        });
        return () => subscription.unsubscribe();
      });
}
