import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { and, asc, eq, isNull, or, sql } from 'drizzle-orm';
import { ConflictError, NotFoundError } from '../errors.js';
import { apiTokens } from '../schema.js';
import type { ApiToken, TokenScope } from '../types.js';
import type { SqliteDb } from './database.js';
import { isUniqueViolation, nowIso, preparedPer } from './util.js';

/** Tokens read `pq_<id>_<secret>`; the id finds the row, the secret is compared by hash. */
const TOKEN_FORMAT = /^pq_(\d{1,15})_([A-Za-z0-9_-]{43})$/;

const hashSecret = (secret: string) => createHash('sha256').update(secret).digest();

const listed = {
  id: apiTokens.id,
  name: apiTokens.name,
  scopes: apiTokens.scopes,
  created_at: apiTokens.created_at,
  revoked_at: apiTokens.revoked_at,
  last_used_at: apiTokens.last_used_at,
};

export function createToken(db: SqliteDb, name: string, scopes: TokenScope[]): { token: string; record: ApiToken } {
  const secret = randomBytes(32).toString('base64url');
  try {
    const record = db
      .insert(apiTokens)
      .values({ name, scopes, secret_hash: hashSecret(secret).toString('hex'), created_at: nowIso() })
      .returning(listed)
      .get();
    return { token: `pq_${record.id}_${secret}`, record };
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
  const match = TOKEN_FORMAT.exec(token);
  if (!match) return undefined;
  const row = statements(db).active.get({ id: Number(match[1]) });
  // Hash even when there is no row, so that timing does not tell which ids exist.
  const presented = hashSecret(match[2]!);
  const stored = row ? Buffer.from(row.secret_hash, 'hex') : Buffer.alloc(presented.length);
  if (!row || stored.length !== presented.length || !timingSafeEqual(stored, presented)) return undefined;
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
