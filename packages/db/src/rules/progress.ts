/**
 * What a worker may report with a heartbeat: how far its attempt got and what it is doing. Kept on
 * the task (`progress`, `progress_message`) and, by the history triggers, on its attempt.
 */
import { ValidationError, type Problem } from '../errors.js';
import type { ProgressReport } from '../store.js';

/** Progress is a percentage: from this to PROGRESS_MAX, fractions allowed. */
export const PROGRESS_MIN = 0;
export const PROGRESS_MAX = 100;

/** The longest message a progress report may carry, in characters: a status line, not a log. */
export const MAX_PROGRESS_MESSAGE_LENGTH = 1000;

/**
 * Refuses a report that breaks the rules above (ValidationError at `progress` or `message`), so
 * that neither engine stores what the API would not take.
 */
export function checkProgress(report: ProgressReport): void {
  const problems: Problem[] = [];
  const { progress, message } = report;
  if (typeof progress !== 'number' || !Number.isFinite(progress) || progress < PROGRESS_MIN || progress > PROGRESS_MAX) {
    problems.push({ path: ['progress'], message: `must be a number from ${PROGRESS_MIN} to ${PROGRESS_MAX}`, type: 'value_error' });
  }
  if (message !== undefined && (typeof message !== 'string' || message.length > MAX_PROGRESS_MESSAGE_LENGTH)) {
    problems.push({ path: ['message'], message: `must be text of at most ${MAX_PROGRESS_MESSAGE_LENGTH} characters`, type: 'value_error' });
  }
  if (problems.length) throw new ValidationError(problems);
}
