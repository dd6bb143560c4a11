import { sleep } from './abortable-sleep.js';

/**
 * Runs `task(0..total-1)` with at most `concurrency` in flight, starting them evenly spread over
 * `spreadOverMs` (0 = as fast as possible), so a large fleet costs a steady trickle of CPU and
 * never hammers the endpoints. Stops starting new tasks once `signal` aborts.
 */
export async function runPaced(
  total: number,
  opts: { readonly concurrency: number; readonly spreadOverMs?: number | undefined; readonly signal?: AbortSignal | undefined },
  task: (i: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  const gapMs = total > 0 ? (opts.spreadOverMs ?? 0) / total : 0;
  const t0 = performance.now();
  const worker = async (): Promise<void> => {
    while (next < total && opts.signal?.aborted !== true) {
      const i = next++;
      const wait = t0 + i * gapMs - performance.now();
      if (wait > 1) await sleep(wait);
      await task(i);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(opts.concurrency, total)) }, worker));
}

/** Maps `items` through `fn` with at most `limit` calls in flight, keeping their order (runPaced without pacing). */
export async function mapBounded<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  await runPaced(items.length, { concurrency: limit }, async (i) => {
    out[i] = await fn(items[i] as T);
  });
  return out;
}
