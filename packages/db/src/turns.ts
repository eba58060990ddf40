/**
 * Turns: at most `size` holders at once, the others wait in the order they came. The stores use
 * them for reads whose cost a filter decides, not the queue: SQLite's list walks that take more
 * than one step (../sqlite/pages.ts), PostgreSQL's list pages and bulk selections (the pool's
 * connections they may hold at once, see ./postgres/store.ts).
 */
export class Turns {
  private free: number;
  private readonly waiting: (() => void)[] = [];
  constructor(readonly size: number) {
    this.free = size;
  }

  /** Resolves when a turn is free; call the function it gives once done (more calls do nothing). */
  async enter(): Promise<() => void> {
    if (this.free > 0) this.free--;
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    let left = false;
    return () => {
      if (left) return;
      left = true;
      const next = this.waiting.shift();
      if (next) next();
      else this.free++;
    };
  }

  /** Runs `work` in a turn. */
  async run<T>(work: () => Promise<T>): Promise<T> {
    const leave = await this.enter();
    try {
      return await work();
    } finally {
      leave();
    }
  }
}
