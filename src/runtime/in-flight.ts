/**
 * Work started by actors that a stop must wait for: stopping an xstate actor does not stop the
 * promise it invoked, and a pass still writing to Redis after shutdown closed the connection would
 * fail loudly. `track` registers a promise; `settle` waits for all of them, at most `graceMs`.
 */
export class InFlight {
  private readonly pending = new Set<Promise<unknown>>();

  /** Registers `p` until it settles; returns it unchanged. */
  track<T>(p: Promise<T>): Promise<T> {
    this.pending.add(p);
    const done = (): void => {
      this.pending.delete(p);
    };
    p.then(done, done);
    return p;
  }

  /** How many tracked promises are still running. */
  get size(): number {
    return this.pending.size;
  }

  /** Waits until every tracked promise settled, or `graceMs` passed. Returns whether all settled. */
  async settle(graceMs: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<false>((resolve) => {
      timer = setTimeout(() => {
        resolve(false);
      }, graceMs);
    });
    try {
      while (this.pending.size > 0) {
        const all = Promise.allSettled([...this.pending]).then(() => true as const);
        if (!(await Promise.race([all, timeout]))) return false;
      }
      return true;
    } finally {
      clearTimeout(timer);
    }
  }
}
