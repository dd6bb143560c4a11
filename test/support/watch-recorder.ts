/**
 * Records what a port watch reports (updates and failures) and lets a caller await the n-th one.
 * Used by the simulator's checks and the SPIRE contract tests: waits are event-driven, with a
 * generous deadline instead of sleeps racing timers.
 */
import type { SpireFailure, WatchHandlers } from '../../src/ports/spire.port.js';

/** One reported failure and the retry delay the watch announced (null = stopped for good). */
export interface RecordedFailure {
  readonly failure: SpireFailure;
  readonly retryInMs: number | null;
}

/** A watch recorder; pass `handlers` to the watch. */
export class WatchRecorder<T> {
  readonly updates: T[] = [];
  readonly failures: RecordedFailure[] = [];
  private waiters: (() => void)[] = [];

  /** `timeoutMs` bounds every wait (default 5 s). */
  constructor(private readonly timeoutMs = 5_000) {}

  /** Handlers recording into this recorder. */
  readonly handlers: WatchHandlers<T> = {
    onUpdate: (u) => {
      this.updates.push(u);
      this.wake();
    },
    onError: (failure, retryInMs) => {
      this.failures.push({ failure, retryInMs });
      this.wake();
    },
  };

  /** The n-th update (1-based), waiting for it. */
  async update(n: number): Promise<T> {
    await this.waitFor(() => this.updates.length >= n, `update #${n}`);
    return this.updates[n - 1] as T;
  }

  /** The n-th failure (1-based), waiting for it. */
  async failure(n: number): Promise<RecordedFailure> {
    await this.waitFor(() => this.failures.length >= n, `failure #${n}`);
    return this.failures[n - 1] as RecordedFailure;
  }

  /** The first update satisfying `pred` (checked against every update, old and new). */
  async updateWhere(pred: (u: T) => boolean, what: string): Promise<T> {
    let found: T | undefined;
    await this.waitFor(() => (found = this.updates.find(pred)) !== undefined, what);
    return found as T;
  }

  /** Resolves when `pred` holds; rejects after the timeout naming `what`. */
  async waitFor(pred: () => boolean, what: string): Promise<void> {
    const deadline = Date.now() + this.timeoutMs;
    while (!pred()) {
      if (Date.now() > deadline) {
        throw new Error(
          `timed out after ${this.timeoutMs} ms waiting for ${what} (updates: ${this.updates.length}, failures: ${this.failures.map((f) => f.failure.message).join(' | ')})`,
        );
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 50);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  private wake(): void {
    const ws = this.waiters;
    this.waiters = [];
    for (const w of ws) w();
  }
}
