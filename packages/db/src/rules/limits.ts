/**
 * The most stored JSON one page of a task list holds, so that a list of large tasks neither fails
 * to serialize nor takes unbounded memory: a page stops before the row that would pass it (it
 * always holds at least one row). Each engine counts a row as the bytes of its stored JSON and
 * text plus a small fixed overhead.
 */
export const MAX_LIST_BYTES = 8 * 1024 * 1024;
