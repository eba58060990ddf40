/**
 * What the CLI says when a call fails, and its exit codes: 1 for an error of the API or of the
 * connection, 2 for a usage error (see main.ts).
 */
import { ConnectionError, PrismqError, type ValidationProblem } from '@prismq/client';
import { displayUrl } from './config.js';

export const EXIT_ERROR = 1;
export const EXIT_USAGE = 2;

/** A validation problem's place, without the `input` or `body` that starts it: `parameters.to`. */
function place(loc: ValidationProblem['loc']): string {
  const parts = loc.map(String);
  if (parts[0] === 'input' || parts[0] === 'body' || parts[0] === 'query' || parts[0] === 'path') parts.shift();
  return parts.join('.');
}

const HINTS: Record<number, string> = {
  401: 'give a token with --token or PRISMQ_TOKEN',
};

/**
 * The lines to print for an error of a call to `url`: the API's status and detail (each problem
 * of a 422 on its own line), or that the server cannot be reached.
 */
export function describeError(error: unknown, url: string): string[] {
  if (error instanceof ConnectionError) {
    return [`cannot reach the PrismQ server at ${displayUrl(url)} (${error.cause instanceof Error ? error.cause.message : error.message}); check --url or PRISMQ_URL`];
  }
  if (error instanceof PrismqError) {
    const hint = HINTS[error.status] ? ` (${HINTS[error.status]})` : '';
    if (typeof error.detail !== 'string') {
      const problems = error.detail.map((problem) => `  ${place(problem.loc) ? `${place(problem.loc)}: ` : ''}${problem.msg}`);
      return [`HTTP ${error.status}: the request is not valid:${hint}`, ...problems];
    }
    // An answer that is not the API's (another service on that port, a proxy's error page) has no detail of its own.
    if (!error.shape) return [`unexpected answer from ${displayUrl(url)}: HTTP ${error.status} ${error.message} (is it a PrismQ server?)`];
    return [`HTTP ${error.status}: ${error.detail}${hint}`];
  }
  return [error instanceof Error ? error.message : String(error)];
}
