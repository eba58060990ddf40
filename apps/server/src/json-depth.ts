/** Deeper JSON than this is refused before anything walks it recursively (JSON.stringify, drizzle). */
export const MAX_JSON_DEPTH = 256;

/**
 * Whether a request body nests deeper than `limit`, found without recursion: a parsed value (REST)
 * or raw JSON text (tRPC reads the body as text).
 */
export function nestsDeeperThan(body: unknown, limit: number): boolean {
  if (typeof body === 'string') {
    let depth = 0;
    let inString = false;
    for (let i = 0; i < body.length; i++) {
      const c = body.charCodeAt(i);
      if (inString) {
        if (c === 0x5c) i++; // backslash: skip the escaped character
        else if (c === 0x22) inString = false;
      } else if (c === 0x22) inString = true;
      else if (c === 0x5b || c === 0x7b) {
        if (++depth > limit) return true;
      } else if (c === 0x5d || c === 0x7d) depth--;
    }
    return false;
  }
  const stack: [unknown, number][] = [[body, 0]];
  while (stack.length > 0) {
    const [value, depth] = stack.pop()!;
    if (value === null || typeof value !== 'object') continue;
    if (depth >= limit) return true;
    for (const child of Object.values(value)) stack.push([child, depth + 1]);
  }
  return false;
}
