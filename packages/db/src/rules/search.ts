/**
 * Search (`q`): what a query means, the same on every engine. A task matches when its text (its
 * parameters, metadata, result and error message, as JSON text) holds every word of the query,
 * whole, in any case; words are runs of letters and digits, so `bob@example.com` is the three
 * words bob, example and com, on both sides. SQLite's FTS5 index and PostgreSQL's tsvector cut
 * the text the same way (migrations drizzle/0008 and drizzle-postgres/0004).
 */
import { ValidationError } from '../errors.js';

/** The most words a query may hold. */
export const MAX_SEARCH_WORDS = 16;

/** The words of a query, in lower case, each once; ValidationError (at `field`) when it has none or too many. */
export function searchWords(q: string, field: (string | number)[] = ['q']): string[] {
  const words = [...new Set(q.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [])];
  if (words.length === 0) throw new ValidationError([{ path: field, message: 'must hold a word (letters or digits)', type: 'value_error' }]);
  if (words.length > MAX_SEARCH_WORDS) {
    throw new ValidationError([{ path: field, message: `must hold at most ${MAX_SEARCH_WORDS} words`, type: 'value_error' }]);
  }
  return words;
}

/** The query as an FTS5 MATCH expression: every word, each quoted (it holds only letters and digits). */
export const ftsQuery = (words: readonly string[]): string => words.map((word) => `"${word}"`).join(' AND ');

/** The query as a PostgreSQL tsquery text (for to_tsquery('simple', …)): every word. */
export const tsQuery = (words: readonly string[]): string => words.join(' & ');
