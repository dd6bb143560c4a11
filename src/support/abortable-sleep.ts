/**
 * Waits `ms`; with a signal, stops waiting when it aborts and rejects with the signal's reason
 * (when that is an Error, else node's AbortError). The one timer-based wait for code that may do
 * I/O (monitor, execute, runtime, adapters, sim); pure stages take time as input instead.
 */
import { setTimeout as wait } from 'node:timers/promises';

export async function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  try {
    await wait(ms, undefined, signal === undefined ? undefined : { signal });
  } catch (e) {
    if (signal?.aborted === true && signal.reason instanceof Error) throw signal.reason;
    throw e;
  }
}
