/**
 * What both engines share of the log of changes (ChangeLog): how its readers are told that it may
 * have grown.
 */

/**
 * Hints that the log of changes may have grown, to the readers that listen (onChanges). A hint
 * costs nothing while no one listens. `onActive` is told when the first reader starts listening
 * and when the last stops: PostgreSQL then starts and stops asking the other replicas to notify.
 */
export class ChangeHints {
  private readonly listeners = new Set<() => void>();

  constructor(private readonly onActive?: (active: boolean) => void) {}

  /** Whether some reader listens. */
  get active(): boolean {
    return this.listeners.size > 0;
  }

  /** Adds a listener; the function returned removes it. */
  on(listener: () => void): () => void {
    const wrapped = () => listener();
    this.listeners.add(wrapped);
    if (this.listeners.size === 1) this.onActive?.(true);
    return () => {
      if (this.listeners.delete(wrapped) && this.listeners.size === 0) this.onActive?.(false);
    };
  }

  /** The log may have grown: tells every listener. */
  grew(): void {
    for (const listener of [...this.listeners]) listener();
  }
}

/** The position before the first change, in both engines' formats: reading after it reads the log from its start. */
export const LOG_START = { sqlite: '0', postgres: '0:0' } as const;
