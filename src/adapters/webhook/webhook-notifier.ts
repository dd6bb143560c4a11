/**
 * NotifierPort over HTTP: POSTs the notification as JSON to a webhook with Node's fetch, once per
 * call. It does not retry: the remediation queue delivers the notify job again while the failure is
 * retryable and deliveries are left, so one delivery is one POST. The retry class of a failure comes
 * from the HTTP table (httpStatusRetryClass): network errors, timeouts, 5xx, 408, 409, 425 and 429
 * are retryable; any other 4xx, and a redirect (not followed: a POST must not silently turn into a
 * GET elsewhere), are permanent, as is a URL that is not http(s). `Idempotency-Key` carries the
 * notification id so a receiver can drop a duplicate.
 */
import { ClassifiedError, type RetryClass } from '../../knowledge/errors/classified-error.js';
import { httpStatusRetryClass } from '../../knowledge/errors/http-retry-class.js';
import type { Notification, NotifierPort, NotifyFailure, NotifyOptions, NotifyReceipt } from '../../ports/notifier.port.js';

/** A failed delivery; its retry class is decided here, from the answer (or its absence). */
export class NotifyError extends ClassifiedError implements NotifyFailure {
  override readonly name = 'NotifyError';

  /** `status` is the receiver's HTTP status, null when no answer came. */
  constructor(
    message: string,
    retry: RetryClass,
    readonly status: number | null,
    options?: ErrorOptions,
  ) {
    super(message, retry, options);
  }
}

/** Options of the notifier. */
export interface WebhookNotifierOptions {
  /** User-Agent header (default "spire-healer"). */
  readonly userAgent?: string;
}

/** scheme://host/… of a URL: webhook paths often embed a secret, so messages never show them. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname === '/' ? '/' : '/…'}`;
  } catch {
    return '(invalid URL)';
  }
}

/** The first part of a response body, for error messages. */
async function snippet(res: Response): Promise<string> {
  const text = await res.text().catch(() => '');
  const t = text.trim().replace(/\s+/g, ' ');
  return t === '' ? '' : `: ${t.length > 200 ? `${t.slice(0, 200)}…` : t}`;
}

/** Webhook notifier; stateless, safe to share. */
export class WebhookNotifier implements NotifierPort {
  private readonly userAgent: string;

  /** See WebhookNotifierOptions. */
  constructor(options: WebhookNotifierOptions = {}) {
    this.userAgent = options.userAgent ?? 'spire-healer';
  }

  /** POSTs `notification` to `url` once; resolves on a 2xx, rejects with NotifyError otherwise. */
  async notify(url: string, notification: Notification, options: NotifyOptions): Promise<NotifyReceipt> {
    const where = redactUrl(url);
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new NotifyError(`webhook URL is not a URL: ${where}`, 'permanent', null);
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
      throw new NotifyError(`webhook URL must be http(s), got ${parsed.protocol}`, 'permanent', null);
    }
    const timeout = AbortSignal.timeout(options.timeoutMs);
    const signal = options.signal === undefined ? timeout : AbortSignal.any([options.signal, timeout]);
    let res: Response;
    try {
      res = await fetch(url, {
        method: 'POST',
        body: JSON.stringify(notification),
        signal,
        redirect: 'manual',
        headers: { 'content-type': 'application/json', 'user-agent': this.userAgent, 'idempotency-key': notification.id },
      });
    } catch (e: unknown) {
      const why =
        options.signal?.aborted === true
          ? 'aborted'
          : timeout.aborted
            ? `no answer within ${options.timeoutMs} ms`
            : e instanceof Error
              ? e.cause instanceof Error
                ? e.cause.message
                : e.message
              : String(e);
      throw new NotifyError(`POST ${where} failed: ${why}`, 'retryable', null, { cause: e });
    }
    if (res.status >= 200 && res.status < 300) {
      await res.body?.cancel().catch(() => undefined);
      return { status: res.status };
    }
    throw new NotifyError(`POST ${where} answered ${res.status}${await snippet(res)}`, httpStatusRetryClass(res.status), res.status);
  }
}
