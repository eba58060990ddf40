/** Drops keys whose value is undefined, so a partial update leaves those columns alone. */
export function withoutUndefined<T extends object>(patch: T): Partial<T> {
  return Object.fromEntries(Object.entries(patch).filter(([, value]) => value !== undefined)) as Partial<T>;
}
