/**
 * NotifierPort over HTTP: POSTs the notification as JSON to a webhook with Node's fetch. Each
 * attempt has its own timeout; network errors, timeouts, 5xx, 408 and 429 are retried with
 * exponential backoff (honouring a short Retry-After); any other 4xx (and a redirect, which is
 * not followed: a POST must not silently turn into a GET elsewhere) fails at once as not
 * retryable. `Idempotency-Key` carries the notification id so a receiver can drop a duplicate.
 */
import type { Notification, NotifierPort, NotifyFailure, NotifyOptions, NotifyReceipt } from '../../ports/notifier.port.js';

/** A failed delivery; `failure.retryable` false means the receiver refused it. */
export class NotifyError extends Error {
  override readonly name = 'NotifyError';
  constructor(
    readonly failure: NotifyFailure,
    options?: ErrorOptions,
  ) {
    super(failure.message, options);
  }
}

/** Backoff between attempts: initial delay, doubled per attempt, capped. */
export interface WebhookNotifierOptions {
  readonly initialBackoffMs?: number;
  readonly maxBackoffMs?: number;
  /** User-Agent header (default "spire-healer"). */
  readonly userAgent?: string;
}

/** Statuses worth another attempt besides 5xx. */
const RETRY_4XX = new Set([408, 425, 429]);

/** scheme://host/… of a URL: webhook paths often embed a secret, so messages never show them. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname === '/' ? '/' : '/…'}`;
  } catch {
    return '(invalid URL)';
  }
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted === true) {
      reject(new Error('aborted'));
      return;
    }
    const onAbort = (): void => {
      clearTimeout(t);
      reject(new Error('aborted'));
    };
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** The first part of a response body, for error messages. */
async function snippet(res: Response): Promise<string> {
  const text = await res.text().catch(() => '');
  const t = text.trim().replace(/\s+/g, ' ');
  return t === '' ? '' : `: ${t.length > 200 ? `${t.slice(0, 200)}…` : t}`;
}

/** Webhook notifier; stateless, safe to share. */
export class WebhookNotifier implements NotifierPort {
  private readonly initialBackoffMs: number;
  private readonly maxBackoffMs: number;
  private readonly userAgent: string;

  /** See WebhookNotifierOptions (defaults 250 ms doubling to 5 s). */
  constructor(options: WebhookNotifierOptions = {}) {
    this.initialBackoffMs = options.initialBackoffMs ?? 250;
    this.maxBackoffMs = options.maxBackoffMs ?? 5_000;
    this.userAgent = options.userAgent ?? 'spire-healer';
  }

  /** POSTs `notification` to `url`; resolves on a 2xx, rejects with NotifyError otherwise. */
  async notify(url: string, notification: Notification, options: NotifyOptions): Promise<NotifyReceipt> {
    const where = redactUrl(url);
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new NotifyError({ message: `webhook URL is not a URL: ${where}`, retryable: false, status: null, attempts: 0 });
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
      throw new NotifyError({
        message: `webhook URL must be http(s), got ${parsed.protocol}`,
        retryable: false,
        status: null,
        attempts: 0,
      });
    }
    const body = JSON.stringify(notification);
    const attempts = Math.max(1, Math.floor(options.maxAttempts));
    let last: NotifyFailure = { message: `POST ${where}: not attempted`, retryable: true, status: null, attempts: 0 };
    for (let attempt = 1; attempt <= attempts; attempt += 1) {
      let retryAfterMs: number | null = null;
      const timeout = AbortSignal.timeout(options.timeoutMs);
      const signal = options.signal === undefined ? timeout : AbortSignal.any([options.signal, timeout]);
      try {
        const res = await fetch(url, {
          method: 'POST',
          body,
          signal,
          redirect: 'manual',
          headers: { 'content-type': 'application/json', 'user-agent': this.userAgent, 'idempotency-key': notification.id },
        });
        if (res.status >= 200 && res.status < 300) {
          await res.body?.cancel().catch(() => undefined);
          return { status: res.status, attempts: attempt };
        }
        const retryable = res.status >= 500 || RETRY_4XX.has(res.status);
        last = { message: `POST ${where} answered ${res.status}${await snippet(res)}`, retryable, status: res.status, attempts: attempt };
        const ra = Number(res.headers.get('retry-after'));
        if (Number.isFinite(ra) && ra > 0) retryAfterMs = ra * 1_000;
        if (!retryable) throw new NotifyError(last);
      } catch (e: unknown) {
        if (e instanceof NotifyError) throw e;
        if (options.signal?.aborted === true) {
          throw new NotifyError(
            { message: `POST ${where} aborted after ${attempt} attempt(s)`, retryable: true, status: null, attempts: attempt },
            { cause: e },
          );
        }
        const why = timeout.aborted
          ? `no answer within ${options.timeoutMs} ms`
          : e instanceof Error
            ? e.cause instanceof Error
              ? e.cause.message
              : e.message
            : String(e);
        last = { message: `POST ${where} failed: ${why}`, retryable: true, status: null, attempts: attempt };
      }
      if (attempt < attempts) {
        const backoff = Math.min(this.maxBackoffMs, this.initialBackoffMs * 2 ** (attempt - 1));
        await sleep(
          retryAfterMs !== null && retryAfterMs <= this.maxBackoffMs ? Math.max(backoff, retryAfterMs) : backoff,
          options.signal,
        ).catch((e: unknown) => {
          throw new NotifyError({ ...last, message: `${last.message}; aborted while waiting to retry` }, { cause: e });
        });
      }
    }
    throw new NotifyError({ ...last, message: `${last.message} (gave up after ${attempts} attempt(s))` });
  }
}
