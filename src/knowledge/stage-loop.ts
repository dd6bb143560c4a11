import { cappedBackoffMs } from './backoff.js';
import { errorMessage } from './error-text.js';

/** Settings every periodic stage loop takes. */
export interface StageLoopInput {
  readonly intervalMs: number;
  readonly maxBackoffMs: number;
}

/** Health bookkeeping every periodic stage loop keeps in its context. */
export interface StageLoopHealth {
  readonly consecutiveFailures: number;
  readonly lastError: string | null;
}

/** Initial health: no failures yet. */
export const healthyLoop: StageLoopHealth = { consecutiveFailures: 0, lastError: null };

/** Delay before retrying a failed pass: the interval doubled per consecutive failure, capped. */
export function backoffDelayMs(loop: StageLoopInput & StageLoopHealth): number {
  return cappedBackoffMs(loop.intervalMs, loop.maxBackoffMs, loop.consecutiveFailures);
}

/** Health after a failed pass. */
export function afterFailure(loop: StageLoopHealth, error: unknown): StageLoopHealth {
  return { consecutiveFailures: loop.consecutiveFailures + 1, lastError: errorMessage(error) };
}
