import { TRPCError } from '@trpc/server';

/** Counts the live event streams open on this server, up to a maximum: each holds a connection and a subscriber. */
export class StreamLimiter {
  private open = 0;
  constructor(readonly max: number) {}

  /** The streams open now. */
  get count(): number {
    return this.open;
  }

  /** Takes a slot, or refuses with 429 (TOO_MANY_REQUESTS) when none is free; the function returned gives it back (once). */
  acquire(): () => void {
    if (this.open >= this.max) {
      throw new TRPCError({ code: 'TOO_MANY_REQUESTS', message: `Too many event streams are open on this server (${this.max}); retry later` });
    }
    this.open++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.open--;
    };
  }
}
