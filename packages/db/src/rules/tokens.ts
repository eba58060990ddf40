/**
 * API tokens read `pq_<id>_<secret>`: the id finds the row, the secret is kept only as its
 * SHA-256 and compared in constant time.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

const TOKEN_FORMAT = /^pq_(\d{1,15})_([A-Za-z0-9_-]{43})$/;

/** A fresh secret: 32 random bytes, base64url. */
export const newTokenSecret = (): string => randomBytes(32).toString('base64url');

/** What is stored of a secret. */
export const hashTokenSecret = (secret: string): string => createHash('sha256').update(secret).digest('hex');

/** The token shown to its owner, once. */
export const formatToken = (id: number, secret: string): string => `pq_${id}_${secret}`;

/** The id and secret of a well-formed token; undefined for anything else. */
export function parseToken(token: string): { id: number; secret: string } | undefined {
  const match = TOKEN_FORMAT.exec(token);
  return match ? { id: Number(match[1]), secret: match[2]! } : undefined;
}

/**
 * Whether `secret` hashes to `storedHash`. Hashes even when there is no stored hash (no such
 * token), so that timing does not tell which ids exist.
 */
export function secretMatches(secret: string, storedHash: string | undefined): boolean {
  const presented = createHash('sha256').update(secret).digest();
  const stored = storedHash ? Buffer.from(storedHash, 'hex') : Buffer.alloc(presented.length);
  return storedHash !== undefined && stored.length === presented.length && timingSafeEqual(stored, presented);
}
