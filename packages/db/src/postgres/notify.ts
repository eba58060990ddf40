/**
 * The notification a write sends, in its own transaction (so that it is delivered at commit),
 * when it may have made tasks claimable: `NOTIFY prismq_tasks, '<origin> <type>:<count>,…'`.
 * `origin` names the store that wrote, which has already told its own waiting claims; `count` is
 * how many tasks of that type became claimable, 0 when unknown or when they come due later (then
 * every claim waiting for the type looks again, to set its timer). `*` instead of the list: any
 * type. Only a hint: see WaitingClaims for what makes up for a notification lost.
 *
 * A transaction that notifies holds a lock global to the server from its commit until the end of
 * its commit (NOTIFY keeps notifications in commit order): concurrent commits that notify wait
 * for each other, with their fsyncs one after another. So a write notifies only while some store
 * lists itself in claim_listeners (it has claims waiting): when workers are busy, nothing is
 * waiting, and writes commit side by side.
 */
import type { Queryable } from './client.js';

export const CHANNEL = 'prismq_tasks';

/** Whether any store has claims waiting (see claim_listeners). */
export const SOMEONE_WAITS = 'EXISTS (SELECT 1 FROM claim_listeners)';

/** The statement that sends a payload ($2) on the channel ($1), when someone waits. */
export const NOTIFY = `SELECT pg_notify($1, $2) WHERE ${SOMEONE_WAITS}`;

/** PostgreSQL's limit on a payload is 8000 bytes; longer lists say `*`. */
const MAX_PAYLOAD = 7900;

/** By type id, how many tasks became claimable (0: some, or later); 'all' for any type. */
export type Claimable = Map<number, number> | 'all';

export function payload(origin: string, claimable: Claimable): string {
  if (claimable === 'all') return `${origin} *`;
  const text = `${origin} ${[...claimable].map(([type, count]) => `${type}:${count}`).join(',')}`;
  return text.length > MAX_PAYLOAD ? `${origin} *` : text;
}

/**
 * SQL that, given a query `source` with a `task_type_id` and a `n` column (tasks per type), sends
 * the notification for them, once, if it has rows. `$origin` is the parameter with the origin.
 */
export function notifySql(source: string, origin: string): string {
  return `SELECT pg_notify('${CHANNEL}', ${origin} || ' ' || CASE WHEN length(list) > ${MAX_PAYLOAD} THEN '*' ELSE list END)
    FROM (SELECT string_agg(task_type_id || ':' || n, ',') AS list FROM (${source}) AS counted) AS listed
    WHERE list IS NOT NULL AND ${SOMEONE_WAITS}`;
}

/**
 * A statement that changes tasks (`RETURNING *`), made to also send the notification that they
 * are claimable, in its own transaction: `count` is the SQL of how many per type (see ./notify.ts),
 * `origin` the parameter with this store's origin.
 */
export function notifying(statement: string, origin: string, count = 'count(*)'): string {
  return `WITH written AS (${statement}),
    notified AS (${notifySql(`SELECT task_type_id, ${count} AS n FROM written GROUP BY task_type_id`, origin)})
  SELECT written.* FROM written, (SELECT count(*) FROM notified) AS sent`;
}

/** The origin and what became claimable, from a payload; undefined for one not of this format. */
export function parsePayload(text: string): { origin: string; claimable: Claimable } | undefined {
  const space = text.indexOf(' ');
  if (space <= 0) return undefined;
  const origin = text.slice(0, space);
  const list = text.slice(space + 1);
  if (list === '*') return { origin, claimable: 'all' };
  const claimable = new Map<number, number>();
  for (const entry of list.split(',')) {
    const match = /^(\d+):(\d+)$/.exec(entry);
    if (!match) return undefined;
    claimable.set(Number(match[1]), (claimable.get(Number(match[1])) ?? 0) + Number(match[2]));
  }
  return { origin, claimable };
}

/** A row of a listener table older than this is gone: its store stopped without removing it. */
const LISTENER_TTL_MS = 60_000;

/**
 * The tables where stores list themselves as waiting for a notification: claim_listeners (claims
 * waiting, for prismq_tasks) and event_listeners (readers of the log of changes, for prismq_events).
 */
export type ListenerTable = 'claim_listeners' | 'event_listeners';

/** Lists the store `origin` in `table` (again), and forgets stores not renewed for LISTENER_TTL_MS. */
export async function listen(db: Queryable, origin: string, table: ListenerTable = 'claim_listeners'): Promise<void> {
  const now = new Date();
  await db.query(
    `WITH gone AS (DELETE FROM ${table} WHERE seen_at < $3)
     INSERT INTO ${table} (origin, seen_at) VALUES ($1, $2) ON CONFLICT (origin) DO UPDATE SET seen_at = excluded.seen_at`,
    [origin, now.toISOString(), new Date(now.getTime() - LISTENER_TTL_MS).toISOString()],
  );
}

/** The store `origin` waits no more. */
export async function unlisten(db: Queryable, origin: string, table: ListenerTable = 'claim_listeners'): Promise<void> {
  await db.query(`DELETE FROM ${table} WHERE origin = $1`, [origin]);
}
