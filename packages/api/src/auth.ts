import type { ApiToken, TaskStore, TokenScope } from '@prismq/db';
import { TRPCError } from '@trpc/server';

export type AuthMode = 'auto' | 'on' | 'off';

/** What a procedure does, for access control: each token scope grants some of these. */
export type Access = 'read' | 'produce' | 'work' | 'admin';

export const SCOPE_GRANTS: Record<TokenScope, readonly Access[]> = {
  admin: ['read', 'produce', 'work', 'admin'],
  producer: ['read', 'produce'],
  worker: ['read', 'work'],
  read: ['read'],
};

/** Whether a request must carry a token, and the token it carried, if valid. */
export interface Auth {
  required: boolean;
  token: ApiToken | undefined;
  /** Whether an Authorization header was sent at all. */
  presented: boolean;
}

/**
 * Decides, per request, whether a token is required and which token was presented.
 * `on`: always required. `off`: never. `auto`: required when the server is reachable from other
 * machines, and on loopback as soon as a token has ever been created: revoking tokens, even the
 * last one, never turns authentication off again. A token that is presented is always checked.
 */
export function createAuthenticator(store: TaskStore, mode: AuthMode, loopback: boolean) {
  return async (authorization: string | undefined): Promise<Auth> => {
    const required = mode === 'on' || (mode === 'auto' && (!loopback || (await store.hasTokens())));
    const presented = typeof authorization === 'string' && authorization.length > 0;
    if (!presented) return { required, token: undefined, presented };
    const bearer = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(authorization)?.[1];
    return { required, token: bearer ? await store.verifyToken(bearer) : undefined, presented };
  };
}

/**
 * Why a request with `auth` may not do `access`, or undefined when it may. A presented token that
 * is unknown, malformed or revoked is refused in every mode, `AUTH=off` included; scopes count
 * where tokens are required.
 */
export function refusal({ required, token, presented }: Auth, access: Access): TRPCError | undefined {
  if (presented && !token) return new TRPCError({ code: 'UNAUTHORIZED', message: 'Invalid or revoked API token' });
  if (!required) return undefined;
  if (!token) return new TRPCError({ code: 'UNAUTHORIZED', message: 'An API token is required: send Authorization: Bearer <token>' });
  if (token.scopes.some((scope) => SCOPE_GRANTS[scope].includes(access))) return undefined;
  const allowed = (Object.keys(SCOPE_GRANTS) as TokenScope[]).filter((scope) => SCOPE_GRANTS[scope].includes(access));
  return new TRPCError({
    code: 'FORBIDDEN',
    message: `Token '${token.name}' (scopes: ${token.scopes.join(', ')}) may not do this; it needs one of: ${allowed.join(', ')}`,
  });
}
