/**
 * The PostgreSQL server that tests use, without vitest: its URL (PRISMQ_TEST_POSTGRES_URL, default
 * postgres://postgres@127.0.0.1:5432/test), whether it answers, and new databases on it.
 */
import { randomBytes } from 'node:crypto';
import postgres from 'postgres';

export const TEST_POSTGRES_URL = process.env.PRISMQ_TEST_POSTGRES_URL || 'postgres://postgres@127.0.0.1:5432/test';

const admin = (url: string) => postgres(url, { max: 1, connect_timeout: 5, onnotice: () => {} });

/** Why the server at `url` cannot be reached, or undefined when it can. */
export async function unreachable(url = TEST_POSTGRES_URL): Promise<string | undefined> {
  const sql = admin(url);
  try {
    await sql`SELECT 1`;
    return undefined;
  } catch (error) {
    return (error as Error).message || String((error as { code?: unknown }).code);
  } finally {
    await sql.end({ timeout: 1 }).catch(() => {});
  }
}

export interface TestDatabase {
  /** Its URL. */
  url: string;
  /** Drops it, closing any connection still open to it. */
  drop(): Promise<void>;
}

/** A new, empty database `prismq_<random>` on the server at `url`. */
export async function createTestDatabase(url = TEST_POSTGRES_URL): Promise<TestDatabase> {
  const name = `prismq_${randomBytes(6).toString('hex')}`;
  const sql = admin(url);
  try {
    await sql.unsafe(`CREATE DATABASE "${name}"`);
  } finally {
    await sql.end({ timeout: 1 });
  }
  const target = new URL(url);
  target.pathname = `/${name}`;
  return {
    url: target.toString(),
    async drop() {
      const sql = admin(url);
      try {
        await sql.unsafe(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      } finally {
        await sql.end({ timeout: 1 });
      }
    },
  };
}

