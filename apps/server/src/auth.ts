import type { TaskStore } from '@prismq/db';
import type { Context } from './trpc.js';

export type AuthMode = 'auto' | 'on' | 'off';

/**
 * Decides, per request, whether a token is required and which token was presented.
 * `on`: always required. `off`: never. `auto`: required when the server is reachable from other
 * machines, and on loopback as soon as any token exists.
 */
export function createAuthenticator(store: TaskStore, mode: AuthMode, loopback: boolean) {
  return async (authorization: string | undefined): Promise<Context['auth']> => {
    const required = mode === 'on' || (mode === 'auto' && (!loopback || (await store.hasActiveTokens())));
    const presented = typeof authorization === 'string' && authorization.length > 0;
    if (!required || !presented) return { required, token: undefined, presented };
    const bearer = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(authorization)?.[1];
    return { required, token: bearer ? await store.verifyToken(bearer) : undefined, presented };
  };
}
