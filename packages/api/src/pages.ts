import type { Context } from './trpc.js';

/**
 * On REST, where the next page of a list is, in headers, so that the body stays a plain array:
 * `Link: </api/tasks?…&cursor=…>; rel="next"` (the request's own URL, its other parameters kept,
 * with the cursor of the next page) and `X-Next-Cursor`. Nothing when there is no next page, or
 * over tRPC, where the page procedure answers the cursor in its body.
 */
export function linkNextPage(ctx: Context, cursor: string | null): void {
  if (cursor === null || ctx.transport !== 'rest' || ctx.url === undefined) return;
  const next = new URL(ctx.url, 'http://server');
  next.searchParams.set('cursor', cursor);
  ctx.responseHeaders = { ...ctx.responseHeaders, link: `<${next.pathname}${next.search}>; rel="next"`, 'x-next-cursor': cursor };
}
