/**
 * What the CLI prints: aligned tables and key-value lists for people, JSON for programs, and the
 * formats of times, ages and durations in both.
 */
import Table from 'cli-table3';

/** Writes text to stdout, adding the final newline. */
export function print(text = ''): void {
  process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
}

/** Writes a note for people to stderr (so that stdout stays the answer). */
export function note(text: string): void {
  process.stderr.write(`${text}\n`);
}

/** One JSON document, indented, on stdout. */
export function printJson(value: unknown): void {
  print(JSON.stringify(value, null, 2));
}

/** One JSON value on one line (JSON lines). */
export function printJsonLine(value: unknown): void {
  print(JSON.stringify(value));
}

export interface Column {
  header: string;
  align?: 'left' | 'right';
}

const NO_BORDERS = {
  top: '',
  'top-mid': '',
  'top-left': '',
  'top-right': '',
  bottom: '',
  'bottom-mid': '',
  'bottom-left': '',
  'bottom-right': '',
  left: '',
  'left-mid': '',
  mid: '',
  'mid-mid': '',
  right: '',
  'right-mid': '',
  middle: '  ',
};

/** A table without borders: a header line, then one line per row, columns aligned. */
export function table(columns: Column[], rows: string[][]): string {
  const rendered = new Table({
    head: columns.map((column) => column.header),
    colAligns: columns.map((column) => column.align ?? 'left'),
    chars: NO_BORDERS,
    style: { head: [], border: [], 'padding-left': 0, 'padding-right': 0, compact: true },
  });
  rendered.push(...rows);
  return rendered
    .toString()
    .split('\n')
    .map((line) => line.trimEnd())
    .join('\n');
}

/** `key  value` lines, the keys padded to one width. Multi-line values are indented under their first line. */
export function keyValues(entries: [string, string][]): string {
  const width = Math.max(0, ...entries.map(([key]) => key.length));
  return entries
    .map(([key, value]) => `${key.padEnd(width)}  ${value.split('\n').join(`\n${' '.repeat(width + 2)}`)}`.trimEnd())
    .join('\n');
}

export const NONE = '-';

/** A time as the API gives it (ISO 8601, UTC), to the second: `2025-11-06 22:00:01Z`. */
export function formatTime(iso: string | null | undefined): string {
  if (!iso) return NONE;
  return iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}

/** An age or duration in seconds: `4.2s`, `42s`, `3m 12s`, `2h`, `2h 05m`, `3d 04h`. */
export function formatAge(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined) return NONE;
  if (seconds < 60) return `${seconds < 10 ? seconds.toFixed(1).replace(/\.0$/, '') : Math.round(seconds)}s`;
  const whole = Math.round(seconds);
  const two = (big: number, bigUnit: string, small: number, smallUnit: string) =>
    small === 0 ? `${big}${bigUnit}` : `${big}${bigUnit} ${String(small).padStart(2, '0')}${smallUnit}`;
  if (whole < 3600) return two(Math.floor(whole / 60), 'm', whole % 60, 's');
  if (whole < 86_400) return two(Math.floor(whole / 3600), 'h', Math.floor((whole % 3600) / 60), 'm');
  return two(Math.floor(whole / 86_400), 'd', Math.floor((whole % 86_400) / 3600), 'h');
}

/** Milliseconds: `38ms`, `1.2s`, then as formatAge. */
export function formatMs(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return NONE;
  if (ms < 1000) return `${Math.round(ms)}ms`;
  return formatAge(ms / 1000);
}

/** A JSON value on one line, or `-` for nothing. */
export function formatJson(value: unknown): string {
  if (value === null || value === undefined) return NONE;
  return JSON.stringify(value);
}

/** Cuts text to `max` characters, ending with an ellipsis when cut; one line. */
export function truncate(text: string | null | undefined, max: number): string {
  if (!text) return NONE;
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

/** `1 task`, `2 tasks`. */
export function plural(count: number, word: string): string {
  return `${count} ${word}${count === 1 ? '' : 's'}`;
}
