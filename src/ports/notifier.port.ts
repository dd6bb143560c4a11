/**
 * Telling people: the `notify` action hands a notification about an incident to a notifier
 * (a webhook today). One call is one request, bounded by its timeout; the notifier never retries:
 * the remediation queue delivers the notify job again when the failure's retry class allows it.
 */
import type { RetryClass } from '../knowledge/errors/classified-error.js';

/** What a notification says (the JSON body a webhook receives). Times are ISO-8601. */
export interface Notification {
  /** Idempotency key (the job id): the same notification delivered twice carries the same id. */
  readonly id: string;
  readonly incidentId: string;
  /** Incident type, e.g. "rotation_failed". */
  readonly type: string;
  readonly subject: string;
  /** "open" or "resolved"; "unknown" when the incident is gone from knowledge. */
  readonly status: string;
  readonly cause?: string;
  readonly explanation: string;
  /** Why a person is told (the plan's reason, e.g. "escalated after 3 steps"). */
  readonly reason: string;
  readonly playbook?: string;
  readonly step?: number;
  readonly action: string;
  readonly target: string;
  /** When it was sent. */
  readonly time: string;
}

/** How to send one notification. */
export interface NotifyOptions {
  /** Bounds the request. */
  readonly timeoutMs: number;
  readonly signal?: AbortSignal;
}

/** A delivered notification. */
export interface NotifyReceipt {
  /** The receiver's HTTP status (2xx). */
  readonly status: number;
}

/**
 * Why a notification was not delivered. `retry` permanent: the receiver refused it (4xx but 408,
 * 409, 425, 429; a redirect) or the URL is unusable; retryable: no answer, or 5xx, 408, 409, 425, 429.
 */
export interface NotifyFailure {
  readonly message: string;
  readonly retry: RetryClass;
  /** The HTTP status, null when no answer came (network error, timeout). */
  readonly status: number | null;
}

/** Delivers notifications. Rejects with a ClassifiedError that is a NotifyFailure. */
export interface NotifierPort {
  notify(url: string, notification: Notification, options: NotifyOptions): Promise<NotifyReceipt>;
}
