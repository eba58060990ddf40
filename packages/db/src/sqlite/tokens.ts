import { and, asc, eq, isNull, or, sql } from 'drizzle-orm';
import { ConflictError, NotFoundError } from '../errors.js';
import { formatToken, hashTokenSecret, newTokenSecret, parseToken, secretMatches } from '../rules/index.js';
import { apiTokens } from '../schema.js';
import type { ApiToken, TokenScope } from '../types.js';
import type { SqliteDb } from './database.js';
import { isUniqueViolation, nowIso, preparedPer } from './util.js';

const listed = {
  id: apiTokens.id,
  name: apiTokens.name,
  scopes: apiTokens.scopes,
  created_at: apiTokens.created_at,
  revoked_at: apiTokens.revoked_at,
  last_used_at: apiTokens.last_used_at,
};

export function createToken(db: SqliteDb, name: string, scopes: TokenScope[]): { token: string; record: ApiToken } {
  const secret = newTokenSecret();
  try {
    const record = db
      .insert(apiTokens)
      .values({ name, scopes, secret_hash: hashTokenSecret(secret), created_at: nowIso() })
      .returning(listed)
      .get();
    return { token: formatToken(record.id, secret), record };
  } catch (error) {
    if (isUniqueViolation(error)) throw new ConflictError(`A token named '${name}' already exists`);
    throw error;
  }
}

export function listTokens(db: SqliteDb): ApiToken[] {
  return db.select(listed).from(apiTokens).orderBy(asc(apiTokens.id)).all();
}

/** Revokes a token by name or id. */
export function revokeToken(db: SqliteDb, nameOrId: string): ApiToken {
  const id = /^\d+$/.test(nameOrId) ? Number(nameOrId) : -1;
  const row = db
    .update(apiTokens)
    .set({ revoked_at: sql`coalesce(${apiTokens.revoked_at}, ${nowIso()})` })
    .where(or(eq(apiTokens.name, nameOrId), eq(apiTokens.id, id)))
    .returning(listed)
    .get();
  if (!row) throw new NotFoundError(`Token '${nameOrId}' not found`);
  return row;
}

// Asked on every request: prepared once per connection.
const statements = preparedPer((db: SqliteDb) => ({
  any: db.select({ id: apiTokens.id }).from(apiTokens).limit(1).prepare(),
  active: db
    .select({ ...listed, secret_hash: apiTokens.secret_hash })
    .from(apiTokens)
    .where(and(eq(apiTokens.id, sql.placeholder('id')), isNull(apiTokens.revoked_at)))
    .prepare(),
}));

/** Whether any token was ever created, revoked ones included. */
export function hasTokens(db: SqliteDb): boolean {
  return statements(db).any.get() !== undefined;
}

/** The live token that `token` proves, or undefined. The secret is compared in constant time. */
export function verifyToken(db: SqliteDb, token: string): ApiToken | undefined {
  const parsed = parseToken(token);
  if (!parsed) return undefined;
  const row = statements(db).active.get({ id: parsed.id });
  if (!secretMatches(parsed.secret, row?.secret_hash) || !row) return undefined;
  const { secret_hash: _secret, ...token_ } = row;
  return token_;
}

/** Records that a token was used, at most once a minute per token. */
export function touchToken(db: SqliteDb, id: number): void {
  const now = nowIso();
  const minuteAgo = new Date(Date.parse(now) - 60_000).toISOString();
  db.update(apiTokens)
    .set({ last_used_at: now })
    .where(and(eq(apiTokens.id, id), or(isNull(apiTokens.last_used_at), sql`${apiTokens.last_used_at} < ${minuteAgo}`)))
    .run();
}
