import { ConflictError, NotFoundError } from '../errors.js';
import { formatToken, hashTokenSecret, newTokenSecret, parseToken, secretMatches } from '../rules/index.js';
import type { ApiToken, TokenScope } from '../types.js';
import type { Queryable } from './client.js';
import { refuseNul, unstorable } from './storage.js';
import { json, nowIso, toToken } from './util.js';

/** The columns of a token as listed: never its hash. */
const LISTED = 'id, name, scopes, created_at, revoked_at, last_used_at';

export async function createToken(db: Queryable, name: string, scopes: TokenScope[]): Promise<{ token: string; record: ApiToken }> {
  refuseNul({ name });
  const secret = newTokenSecret();
  const [row] = await db.query(
    `INSERT INTO api_tokens (name, scopes, secret_hash, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT (name) DO NOTHING RETURNING ${LISTED}`,
    [name, json(scopes), hashTokenSecret(secret), nowIso()],
  );
  if (!row) throw new ConflictError(`A token named '${name}' already exists`);
  const record = toToken(row);
  return { token: formatToken(record.id, secret), record };
}

export async function listTokens(db: Queryable): Promise<ApiToken[]> {
  return (await db.query(`SELECT ${LISTED} FROM api_tokens ORDER BY id`)).map(toToken);
}

/** Revokes a token by name or id. */
export async function revokeToken(db: Queryable, nameOrId: string): Promise<ApiToken> {
  const id = /^\d{1,15}$/.test(nameOrId) ? Number(nameOrId) : -1;
  const [row] = unstorable(nameOrId)
    ? []
    : await db.query(`UPDATE api_tokens SET revoked_at = coalesce(revoked_at, $3) WHERE name = $1 OR id = $2 RETURNING ${LISTED}`, [nameOrId, id, nowIso()]);
  if (!row) throw new NotFoundError(`Token '${nameOrId}' not found`);
  return toToken(row);
}

/** Whether any token was ever created, revoked ones included. */
export async function hasTokens(db: Queryable): Promise<boolean> {
  const [row] = await db.query<{ any: boolean }>('SELECT EXISTS (SELECT 1 FROM api_tokens) AS any');
  return row!.any;
}

/** The live token that `token` proves, or undefined. The secret is compared in constant time. */
export async function verifyToken(db: Queryable, token: string): Promise<ApiToken | undefined> {
  const parsed = parseToken(token);
  if (!parsed) return undefined;
  const [row] = await db.query<{ secret_hash: string }>(`SELECT ${LISTED}, secret_hash FROM api_tokens WHERE id = $1 AND revoked_at IS NULL`, [parsed.id]);
  if (!secretMatches(parsed.secret, row?.secret_hash) || !row) return undefined;
  const { secret_hash: _secret, ...listed } = row;
  return toToken(listed);
}

/** Records that a token was used, at most once a minute per token. */
export async function touchToken(db: Queryable, id: number): Promise<void> {
  const now = nowIso();
  const minuteAgo = new Date(Date.parse(now) - 60_000).toISOString();
  await db.query('UPDATE api_tokens SET last_used_at = $2 WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < $3)', [id, now, minuteAgo]);
}
