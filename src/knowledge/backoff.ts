/**
 * Capped exponential backoff, the one formula: `baseMs` doubled `doublings` times, never more than
 * `capMs`. Pure arithmetic, so it lives here for the stage loops (analyze and plan machines
 * included); the waiting itself is src/support/abortable-sleep.ts.
 */
export function cappedBackoffMs(baseMs: number, capMs: number, doublings: number): number {
  return Math.min(capMs, baseMs * 2 ** Math.max(0, doublings));
}
