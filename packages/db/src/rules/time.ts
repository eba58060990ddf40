/** ISO 8601 in UTC with a `Z`, to the millisecond: sorts as text in time order. */
export const nowIso = (): string => new Date().toISOString();

/** The ISO time `seconds` after `iso`. */
export const addSeconds = (iso: string, seconds: number): string => new Date(Date.parse(iso) + seconds * 1000).toISOString();
