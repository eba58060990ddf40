/**
 * What the systems measured on PostgreSQL share (pg-boss, Graphile Worker, PrismQ on its
 * PostgreSQL engine): connecting once and failing fast, the server's version, and running a
 * system in its own schema or database, dropped before and after.
 */
import { randomUUID } from 'node:crypto';
import { userInfo } from 'node:os';
import pg from 'pg';
import { CONNECT_TIMEOUT_MS, describe, hostPort, redact } from './anchors/common.js';
import { isLocal, postgresCpuMs, type ServerCpu } from './cpu.js';
import type { BenchPlan, Log, SystemResult } from './figures.js';
import { runScenarios, type ScenarioContext, type Scenarios } from './scenarios.js';

/**
 * `postgresUrl`, naming a user where it names none and the environment does not either: libpq
 * (psql) then connects as the operating-system user, node-postgres only looks at $USER.
 */
export function withDefaultUser(postgresUrl: string): string {
  if (process.env.PGUSER || process.env.USER) return postgresUrl;
  try {
    const parsed = new URL(postgresUrl);
    if (parsed.username || !parsed.hostname) return postgresUrl;
    parsed.username = userInfo().username;
    return parsed.toString();
  } catch {
    return postgresUrl;
  }
}

/** Connects once, failing fast: a connection for looking at tables, or why the server is unreachable. */
export async function connectSql(postgresUrl: string): Promise<pg.Client> {
  const sql = new pg.Client({ connectionString: withDefaultUser(postgresUrl), connectionTimeoutMillis: CONNECT_TIMEOUT_MS });
  sql.on('error', () => {});
  try {
    await sql.connect();
    return sql;
  } catch (error) {
    await sql.end().catch(() => {});
    throw error;
  }
}

/** The server's version number, e.g. "15.20" of "15.20 (Debian 15.20-0+deb12u1)". */
export async function serverVersion(sql: pg.Client): Promise<string> {
  return (await sql.query<{ server_version: string }>('SHOW server_version')).rows[0]?.server_version.split(' ')[0] ?? 'unknown';
}

/** "PostgreSQL 15.20 at 127.0.0.1:5432", for a system's detail line. */
export async function describeServer(sql: pg.Client, postgresUrl: string): Promise<string> {
  return `PostgreSQL ${await serverVersion(sql)} at ${hostPort(postgresUrl, 5432, 'localhost')}`;
}

/** Why a system on PostgreSQL was skipped: the server at `postgresUrl` did not answer. */
export const unreachable = (postgresUrl: string, error: unknown) =>
  `PostgreSQL is not reachable at ${redact(postgresUrl)} (set POSTGRES_URL): ${describe(error)}`;

/** What an anchor on PostgreSQL is given to run its scenarios. */
export interface PostgresAnchor {
  /** Connection string for the anchor's library (a user named where the URL names none). */
  connectionString: string;
  /** Connection for looking at the anchor's tables, outside the library. */
  sql: pg.Client;
  /** Prefix of this run's queue or task names. */
  run: string;
  /** CPU time of the PostgreSQL server's processes (see `postgresServerCpu`). */
  serverCpu: ServerCpu;
}

/**
 * CPU time of the PostgreSQL server at `postgresUrl` so far, ms: every `postgres` process on this
 * machine with the backends it has reaped (see cpu.ts); NaN for a server on another host.
 */
export function postgresServerCpu(postgresUrl: string): ServerCpu {
  return isLocal(postgresUrl) ? postgresCpuMs : () => NaN;
}

/** What a PostgreSQL system's server CPU is, for its notes. */
export const POSTGRES_CPU_NOTE =
  "server CPU: every process named postgres on this machine, with the backends the postmaster has reaped (from /proc; machine-wide, so anything else using this PostgreSQL meanwhile counts too)";

/**
 * An anchor's figures on the PostgreSQL at `postgresUrl`, in its own `schema` (dropped before and
 * after), or `skipped` if the server cannot be reached: `open` starts the anchor's library and
 * gives the scenarios' context, `runScenarios` runs `scenarios` (logged under `system`), and the
 * context's `close` stops the library. A failure outside a scenario stops the run early, with a note.
 */
export async function benchOnPostgres<Context extends ScenarioContext>(options: {
  name: string;
  system: string;
  library: string;
  plan: BenchPlan;
  log: Log;
  postgresUrl: string;
  schema: string;
  notes: string[];
  scenarios: Scenarios<Context>;
  open: (anchor: PostgresAnchor) => Promise<{ ctx: Context; close(): Promise<void> }>;
}): Promise<SystemResult> {
  const { name, library, postgresUrl, schema } = options;
  const notes = [...options.notes, POSTGRES_CPU_NOTE];
  const result: SystemResult = { name, detail: library, figures: {} };
  let sql: pg.Client;
  try {
    sql = await connectSql(postgresUrl);
  } catch (error) {
    return { ...result, skipped: unreachable(postgresUrl, error) };
  }
  const dropSchema = () => sql.query(`DROP SCHEMA IF EXISTS ${pg.escapeIdentifier(schema)} CASCADE`);
  try {
    result.detail = `${library}, ${await describeServer(sql, postgresUrl)}`;
    await dropSchema();
    const { ctx, close } = await options.open({
      connectionString: withDefaultUser(postgresUrl),
      sql,
      run: `prismq-bench-${randomUUID().slice(0, 8)}`,
      serverCpu: postgresServerCpu(postgresUrl),
    });
    try {
      await runScenarios(options.system, ctx, result.figures, notes, options.scenarios);
    } finally {
      await close();
    }
  } catch (error) {
    notes.push(`stopped early: ${describe(error)}`);
  } finally {
    await dropSchema().catch((error: unknown) => notes.push(`could not drop schema ${schema}: ${describe(error)}`));
    await sql.end().catch(() => {});
  }
  return { ...result, notes };
}

/** A database made for one run, and how to drop it. */
export interface FreshDatabase {
  /** `postgresUrl` with the fresh database's name in place of its own. */
  url: string;
  name: string;
  /** Drops the database, closing any connections left to it. */
  drop(): Promise<void>;
  /** Names of the tables in the database's `public` schema and any other non-system schema. */
  tables(): Promise<string[]>;
}

/** Creates an empty database beside the one `postgresUrl` names, through a connection to that one. */
export async function freshDatabase(postgresUrl: string, log: Log): Promise<FreshDatabase> {
  const admin = await connectSql(postgresUrl);
  const name = `prismq_bench_${randomUUID().slice(0, 8)}`;
  try {
    await admin.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`);
  } catch (error) {
    await admin.end().catch(() => {});
    throw error;
  }
  const parsed = new URL(withDefaultUser(postgresUrl));
  parsed.pathname = `/${name}`;
  const url = parsed.toString();
  return {
    url,
    name,
    async tables() {
      const sql = await connectSql(url);
      try {
        const { rows } = await sql.query<{ name: string }>(
          `SELECT table_schema || '.' || table_name AS name FROM information_schema.tables
            WHERE table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1`,
        );
        return rows.map((row) => row.name);
      } finally {
        await sql.end().catch(() => {});
      }
    },
    async drop() {
      try {
        await admin.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`);
      } catch (error) {
        log(`could not drop database ${name}: ${describe(error)}`);
      } finally {
        await admin.end().catch(() => {});
      }
    },
  };
}
