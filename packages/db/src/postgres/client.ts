/**
 * The connection to PostgreSQL, as the store's modules use it: SQL text with `$1…` parameters,
 * rows as plain objects, transactions, and a listening connection. The driver is `postgres`
 * (porsager): see the README's PostgreSQL section for how it compared with `pg` through this store.
 *
 * Values: JSON goes in as text (`$1::text::json`) and comes out parsed; 64-bit integers come out
 * as numbers; times are text (see ./schema.ts).
 */
import postgres from 'postgres';

export type Row = Record<string, unknown>;

/** Runs statements, on the pool or inside one transaction. */
export interface Queryable {
  query<T extends object = Row>(text: string, params?: readonly unknown[]): Promise<T[]>;
}

export interface PgClient extends Queryable {
  /** Runs `work` in one transaction on one connection: committed when it resolves, rolled back when it throws. */
  transaction<T>(work: (tx: Queryable) => Promise<T>): Promise<T>;
  /**
   * Listens on `channel` on a connection of its own, connecting again whenever it is lost:
   * `onConnect` after each (re)connection, when notifications may have been missed meanwhile.
   */
  listen(channel: string, onNotify: (payload: string) => void, onConnect: () => void): Promise<() => Promise<void>>;
  /** Closes every connection, waiting up to `timeoutSeconds` for queries under way. */
  end(timeoutSeconds?: number): Promise<void>;
}

/** Connections in the pool at most, unless told otherwise. */
export const DEFAULT_POOL_SIZE = 10;

export interface PgClientOptions {
  /** Connections in the pool at most, besides the listening one. Default 10. */
  poolSize?: number | undefined;
  /** How long to wait for a connection to the server, in seconds. Default 10. */
  connectTimeoutSeconds?: number | undefined;
}

/** Opens a pool on `url` (a `postgres://` or `postgresql://` URL). Connections are made when first needed. */
export function connect(url: string, options: PgClientOptions = {}): PgClient {
  const sql = postgres(url, {
    max: options.poolSize ?? DEFAULT_POOL_SIZE,
    connect_timeout: options.connectTimeoutSeconds ?? 10,
    idle_timeout: 60,
    // Between attempts to connect after failures: 50 ms doubling to at most a second, with
    // jitter. The driver's own backoff grows to 20 s, so that a server back after a short outage
    // stayed unreachable here for up to 20 s more.
    backoff: (retries: number) => Math.min(0.05 * 2 ** retries, 1) * (0.5 + Math.random() / 2),
    // Our statements are fixed text: each is prepared once per connection.
    prepare: true,
    onnotice: () => {},
    connection: { application_name: 'prismq' },
    types: {
      // Ids and counts: 64-bit in the database, numbers here (exact up to 2^53).
      int8: { to: 20, from: [20], serialize: (value: number) => String(value), parse: (value: string) => Number(value) },
    },
  });
  const queryable = (runner: postgres.Sql | postgres.TransactionSql): Queryable => ({
    async query<T extends object>(text: string, params: readonly unknown[] = []) {
      // A plain array: the driver's carries the statement's details besides the rows.
      return Array.from(await runner.unsafe(text, params as postgres.ParameterOrJSON<never>[], { prepare: true })) as T[];
    },
  });
  return {
    ...queryable(sql),
    async transaction(work) {
      return (await sql.begin((tx) => work(queryable(tx)))) as Awaited<ReturnType<typeof work>>;
    },
    async listen(channel, onNotify, onConnect) {
      const { unlisten } = await sql.listen(channel, onNotify, onConnect);
      return unlisten;
    },
    async end(timeoutSeconds = 5) {
      await sql.end({ timeout: timeoutSeconds });
    },
  };
}
