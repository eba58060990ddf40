/**
 * The one place where errors become HTTP statuses, tRPC codes and `detail` bodies.
 *
 * REST answers errors as `{"detail": ...}`, as the original service did: a string, or for a
 * validation failure (422) a list of `{loc, msg, type}`, one per problem, naming the field.
 */
import { ChangesExpiredError, LeaseLostError, limitProblems, StorageError, ValidationError, type DomainError, type Problem } from '@prismq/db';
import { TRPCError } from '@trpc/server';
import type { TRPC_ERROR_CODE_KEY } from '@trpc/server/rpc';
import { z } from 'zod';
import { FIELD_REQUIRED } from './schemas.js';

export interface ValidationProblem {
  /** Where the problem is: `["body", "priority"]`, `["path", "task_id"]`, `["query", "limit"]`. */
  loc: (string | number)[];
  msg: string;
  type: string;
}

export type Detail = string | ValidationProblem[];

const DOMAIN_CODES: Record<DomainError['kind'], TRPC_ERROR_CODE_KEY> = {
  not_found: 'NOT_FOUND',
  conflict: 'CONFLICT',
  invalid_state: 'BAD_REQUEST',
  invalid: 'UNPROCESSABLE_CONTENT',
  // Busy for now (too many requests waiting for parameter validation): 503, worth trying again.
  unavailable: 'SERVICE_UNAVAILABLE',
  // A server-side failure, logged as one; its HTTP status comes from the error (storageStatusOf).
  storage: 'INTERNAL_SERVER_ERROR',
};

/**
 * A storage failure's HTTP status: 507 Insufficient Storage when the disk is full, else 503
 * (the file unwritable, damaged, gone, or locked past the busy timeout). tRPC has no code for
 * 507, so both travel as INTERNAL_SERVER_ERROR and take their status from here, on REST and tRPC.
 */
export const storageStatusOf = (error: StorageError): 503 | 507 => (error.reason === 'full' ? 507 : 503);

/** Turns a store's domain error into the tRPC error that carries its status. */
export const fromDomainError = (error: DomainError): TRPCError =>
  new TRPCError({ code: DOMAIN_CODES[error.kind], message: error.message, cause: error });

export const isValidationError = (error: TRPCError): error is TRPCError & { cause: z.ZodError } =>
  error.code === 'BAD_REQUEST' && error.cause instanceof z.ZodError;

/**
 * What tells apart errors of one status, for tRPC clients (its error's `data.reason`; REST bodies
 * stay `{"detail": ...}`): a 409 because the caller's lease is gone (`lease_lost`: the task was
 * settled, cancelled, or claimed again), or because a resume point of live events is no longer
 * kept (`changes_expired`), rather than a uniqueness conflict; a 507 because the disk is full.
 */
export type ErrorReason = 'lease_lost' | 'changes_expired' | 'storage_full';

export function reasonOf(error: TRPCError): ErrorReason | undefined {
  const cause = error.cause;
  if (cause instanceof LeaseLostError) return 'lease_lost';
  if (cause instanceof ChangesExpiredError) return 'changes_expired';
  if (cause instanceof StorageError && cause.reason === 'full') return 'storage_full';
  return undefined;
}

/** The HTTP status of an error, on REST and tRPC alike. */
export function httpStatusOf(error: TRPCError): number {
  if (isValidationError(error)) return 422;
  if (error.cause instanceof StorageError) return storageStatusOf(error.cause);
  switch (error.code) {
    case 'PARSE_ERROR':
      return 422;
    case 'BAD_REQUEST':
      return 400;
    case 'UNAUTHORIZED':
      return 401;
    case 'FORBIDDEN':
      return 403;
    case 'NOT_FOUND':
      return 404;
    case 'METHOD_NOT_SUPPORTED':
      return 405;
    case 'CONFLICT':
      return 409;
    case 'PAYLOAD_TOO_LARGE':
      return 413;
    case 'UNSUPPORTED_MEDIA_TYPE':
      return 415;
    case 'UNPROCESSABLE_CONTENT':
      return 422;
    case 'TOO_MANY_REQUESTS':
      return 429;
    case 'TIMEOUT':
      return 408;
    case 'SERVICE_UNAVAILABLE':
      return 503;
    default:
      return 500;
  }
}

/**
 * Where a field of a procedure's input comes from on REST: the URL path, the query string, or
 * the JSON body. tRPC has one input object, so there everything is "input".
 */
export type FieldLocator = (field: string | number | undefined) => string;

/** The input's problems as the answer lists them: at most MAX_PROBLEMS, and one that counts the others (see limitProblems). */
export function validationProblems(error: z.ZodError, locate: FieldLocator): ValidationProblem[] {
  const problems = error.issues.map((issue) => ({
    path: issue.path as (string | number)[],
    message: issue.message,
    type: issue.message === FIELD_REQUIRED ? 'missing' : issue.code,
  }));
  return located(limitProblems(problems), locate);
}

const located = (problems: Problem[], locate: FieldLocator): ValidationProblem[] =>
  problems.map(({ path: [first, ...rest], message, type }) => ({
    loc: [locate(first), ...(first === undefined ? [] : [first]), ...rest],
    msg: message,
    type,
  }));

export function detailOf(error: TRPCError, locate: FieldLocator): Detail {
  if (isValidationError(error)) return validationProblems(error.cause, locate);
  if (error.cause instanceof ValidationError) return located(error.cause.problems, locate);
  if (error.code === 'PARSE_ERROR') {
    return [{ loc: ['body'], msg: `Invalid JSON: ${error.cause?.message ?? error.message}`, type: 'json_invalid' }];
  }
  // It names the cause, and nothing of the request: what an operator needs to act.
  if (error.cause instanceof StorageError) return error.cause.message;
  // Only the store's UnavailableError travels as SERVICE_UNAVAILABLE: its message says what to do.
  if (error.code === 'SERVICE_UNAVAILABLE') return error.message;
  if (httpStatusOf(error) >= 500) return 'Internal server error';
  return error.message;
}

/** A one-line summary of a detail, used as the error message seen by tRPC clients. */
export function summarize(detail: Detail): string {
  if (typeof detail === 'string') return detail;
  return detail.map((p) => `${p.loc.join('.')}: ${p.msg}`).join('; ');
}
