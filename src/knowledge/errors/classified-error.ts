/**
 * The one retry rule of execute. Every failure an adapter reports is a ClassifiedError (or is
 * wrapped into one at the adapter) whose `retry` says whether running the same job again may
 * succeed; execute reads that and nothing else. Like Temporal's `nonRetryable`, controller-runtime's
 * `TerminalError` and BullMQ's `UnrecoverableError` (which the queue adapter turns a permanent
 * failure into), the error itself carries the verdict.
 *
 * The class is for execute only: monitor sources reconnect after every failure, whatever its class
 * (an agent whose registration is still propagating answers PermissionDenied for a while).
 */

import { errorMessage } from '../error-text.js';

/**
 * `retryable`: another delivery of the job may succeed (Unavailable, DeadlineExceeded, 5xx, 429,
 * conflicts, connection errors). `permanent`: it cannot (PermissionDenied, NotFound,
 * InvalidArgument, 403/404/422, bad params, a platform that is not configured).
 */
export type RetryClass = 'retryable' | 'permanent';

/** An error that carries its retry class. */
export class ClassifiedError extends Error {
  override readonly name: string = 'ClassifiedError';

  /** `retry` is decided once, where the failure is understood (the adapter, or the action that refuses). */
  constructor(
    message: string,
    readonly retry: RetryClass,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }

  /** Whether no retry can fix it. */
  get permanent(): boolean {
    return this.retry === 'permanent';
  }
}

/**
 * The retry class of anything a job threw: a ClassifiedError's own class; anything else (a
 * timeout of the job, a bug, an error of a library no adapter wrapped) is retryable, so the
 * queue's bounded deliveries decide.
 */
export function retryClassOf(e: unknown): RetryClass {
  return e instanceof ClassifiedError ? e.retry : 'retryable';
}

/**
 * A function for `.catch()` that rethrows the failure with what was being done in front of its
 * message ("reading pod shop/web-1: …"), keeping its retry class and the original as `cause`.
 */
export function rethrowWithContext(doing: string): (e: unknown) => never {
  return (e: unknown): never => {
    throw new ClassifiedError(`${doing}: ${errorMessage(e)}`, retryClassOf(e), { cause: e });
  };
}
