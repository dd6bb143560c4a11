/**
 * Telling people: the `notify` action hands a notification about an incident to a notifier
 * (a webhook today). The notifier owns delivery: timeouts and a bounded retry for failures a
 * retry can fix; it never retries a request the receiver refused.
 */

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

/** How to deliver one notification. */
export interface NotifyOptions {
  /** Per attempt. */
  readonly timeoutMs: number;
  /** Attempts in all (1 = no retry). */
  readonly maxAttempts: number;
  readonly signal?: AbortSignal;
}

/** A delivered notification. */
export interface NotifyReceipt {
  /** The receiver's HTTP status (2xx). */
  readonly status: number;
  readonly attempts: number;
}

/** Why a notification was not delivered. `retryable` false: the receiver refused it (4xx), retrying cannot help. */
export interface NotifyFailure {
  readonly message: string;
  readonly retryable: boolean;
  /** The last HTTP status, null when no answer came (network error, timeout). */
  readonly status: number | null;
  readonly attempts: number;
}

/** Delivers notifications. Rejects with an Error carrying `failure: NotifyFailure`. */
export interface NotifierPort {
  notify(url: string, notification: Notification, options: NotifyOptions): Promise<NotifyReceipt>;
}
