/**
 * The log of changes on PostgreSQL (table task_events, see ../store.ts ChangeLog). Ids come from
 * a sequence, so they are not in commit order when writers overlap; each row also has the id of
 * the transaction that wrote it (`tx`). A reader reads only rows of transactions below the
 * oldest one still running (`pg_snapshot_xmin`): those are final, none can appear before them
 * any more. So in (tx, id) order, resuming after the last (tx, id) read, it misses nothing. A
 * change's position is `<tx>:<id>`.
 */
import { ChangesExpiredError, ValidationError } from '../errors.js';
import { LOG_START } from '../changes.js';
import type { TaskChange } from '../types.js';
import type { Queryable } from './client.js';
import { LOCKS } from './database.js';

const POSITION = /^(0|[1-9][0-9]{0,19}):(0|[1-9][0-9]{0,18})$/;

/** The transaction and id a position names; ValidationError at `after` for text that is not one. */
export function positionOf(text: string): [tx: bigint, id: bigint] {
  const match = POSITION.exec(text);
  if (!match || BigInt(match[1]!) >= 2n ** 64n || BigInt(match[2]!) >= 2n ** 63n) {
    throw new ValidationError([{ path: ['after'], message: 'is not a position in the log of changes of this server', type: 'value_error' }]);
  }
  return [BigInt(match[1]!), BigInt(match[2]!)];
}

export function compareChangeIds(a: string, b: string): number {
  const [[xt, xi], [yt, yi]] = [positionOf(a), positionOf(b)];
  if (xt !== yt) return xt < yt ? -1 : 1;
  return xi < yi ? -1 : xi > yi ? 1 : 0;
}

/**
 * The oldest transaction that may still write to this database: rows of transactions below it
 * are final. That is the oldest one running (`pg_snapshot_xmin`), leaving out those that
 * pg_stat_activity shows in another database of the server (transaction ids are the server's,
 * so a long transaction elsewhere would otherwise hold every reader back); the first id not yet
 * given when none is left. A transaction whose database cannot be seen counts.
 */
export const HORIZON = `(SELECT coalesce(
    (SELECT min(x) FROM pg_snapshot_xip(s) AS x
      WHERE NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.backend_xid = x::xid AND a.datname <> current_database())),
    pg_snapshot_xmax(s))
  FROM pg_current_snapshot() AS s)`;

const COLUMNS = 'task_id, task_type_id, kind, at, status, attempt, worker_id, progress, message';

/** The position of the newest final change, or the start of an empty log. */
export async function changesHead(db: Queryable): Promise<string> {
  const [row] = await db.query<{ tx: string; id: number }>(
    `SELECT tx::text AS tx, id FROM task_events WHERE tx < ${HORIZON} ORDER BY tx DESC, id DESC LIMIT 1`,
  );
  return row ? `${row.tx}:${row.id}` : LOG_START.postgres;
}

type ChangeRow = Omit<TaskChange, 'id'> & { tx: string | null; id: number | null; kept: boolean; held: boolean };

export interface ChangesRead {
  changes: TaskChange[];
  /** Whether changes of transactions still running were left for later: a reader should look again soon. */
  held: boolean;
}

/**
 * Up to `limit` final changes after `after`, in (tx, id) order, in one statement: with whether
 * the change at `after` is still kept, and whether changes were held back.
 */
export async function readChanges(db: Queryable, after: string, limit: number): Promise<ChangesRead> {
  const [tx, id] = positionOf(after);
  const rows = await db.query<ChangeRow>(
    `WITH horizon AS (SELECT ${HORIZON} AS xmin),
       page AS (
         SELECT e.tx, e.id, ${COLUMNS.split(', ').map((c) => `e.${c}`).join(', ')} FROM task_events e, horizon
          WHERE (e.tx, e.id) > ($1::text::xid8, $2::bigint) AND e.tx < horizon.xmin
          ORDER BY e.tx, e.id LIMIT $3)
     SELECT page.tx::text AS tx, page.id, ${COLUMNS.split(', ').map((c) => `page.${c}`).join(', ')},
       EXISTS (SELECT 1 FROM task_events WHERE tx = $1::text::xid8 AND id = $2::bigint) AS kept,
       EXISTS (SELECT 1 FROM task_events, horizon WHERE tx >= horizon.xmin) AS held
     FROM (SELECT 1) AS one LEFT JOIN page ON true
     ORDER BY page.tx, page.id`,
    [tx.toString(), id.toString(), limit],
  );
  const first = rows[0]!;
  if (after !== LOG_START.postgres && !first.kept) throw new ChangesExpiredError(after);
  const changes = rows
    .filter((row) => row.tx !== null)
    .map(({ tx: rowTx, id: rowId, kept: _kept, held: _held, ...change }) => ({ ...change, id: `${rowTx}:${rowId}` }));
  return { changes, held: first.held };
}

/**
 * Deletes up to `limit` of the oldest final changes written before `before`, stopping at the
 * first newer one and keeping the newest (see ChangeLog.deleteChangesBefore); in one replica at
 * a time (0 when another is at it).
 */
export async function deleteChangesBefore(db: { transaction<T>(work: (tx: Queryable) => Promise<T>): Promise<T> }, before: string, limit: number): Promise<number> {
  return db.transaction(async (tx) => {
    const [lock] = await tx.query<{ held: boolean }>('SELECT pg_try_advisory_xact_lock($1) AS held', [LOCKS.eventRetention]);
    if (!lock!.held) return 0;
    const [deleted] = await tx.query<{ n: number }>(
      `WITH batch AS (
         SELECT tx, id, at, row_number() OVER (ORDER BY tx, id) AS n
           FROM (SELECT tx, id, at FROM task_events WHERE tx < ${HORIZON} ORDER BY tx, id LIMIT $1 + 1) AS oldest),
       stop AS (SELECT coalesce(min(n), (SELECT max(n) FROM batch)) AS n FROM batch WHERE at >= $2),
       doomed AS (
         DELETE FROM task_events e USING batch
          WHERE e.tx = batch.tx AND e.id = batch.id AND batch.n < (SELECT n FROM stop) AND batch.n <= $1
         RETURNING 1)
       SELECT count(*)::int AS n FROM doomed`,
      [limit, before],
    );
    return deleted!.n;
  });
}
