import type { RetryClass } from './classified-error.js';

/**
 * HTTP statuses another request may get past: timeout (408), conflict (409), too early (425),
 * too many requests (429). Every other 4xx, and a redirect the caller does not follow, is
 * permanent; every 5xx is retryable.
 */
const RETRYABLE_4XX: ReadonlySet<number> = new Set([408, 409, 425, 429]);

/** The retry class of an HTTP answer that was not a success (shared by the plain-HTTP adapters: Envoy admin, webhook, SPIRE health). */
export function httpStatusRetryClass(status: number): RetryClass {
  if (status >= 500 || RETRYABLE_4XX.has(status)) return 'retryable';
  return 'permanent';
}
