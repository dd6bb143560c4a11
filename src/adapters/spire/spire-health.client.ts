/** SPIRE's HTTP health endpoints (/live, /ready): 200 healthy, 500 not, JSON map of subsystems. */
import { ClassifiedError } from '../../knowledge/errors/classified-error.js';
import { httpStatusRetryClass } from '../../knowledge/errors/http-retry-class.js';
import type { SpireHealth, SpireHealthPort } from '../../ports/spire.port.js';
import { errorMessage } from '../../knowledge/error-text.js';

/**
 * A health check that could not be read. Retry classes: unreachable (and timed out) retryable; an
 * unexpected HTTP status by the HTTP table (httpStatusRetryClass: 404 permanent, 503 retryable); a
 * body that is not the JSON map of subsystems permanent (not a SPIRE health listener).
 */
export class SpireHealthError extends ClassifiedError {
  override readonly name = 'SpireHealthError';
}

/** SpireHealthPort over fetch. */
export class HttpSpireHealth implements SpireHealthPort {
  /** `timeoutMs` bounds each request (default 2000). */
  constructor(private readonly timeoutMs = 2_000) {}

  /** GET {baseUrl}/live or /ready. */
  async check(baseUrl: string, probe: 'live' | 'ready', signal?: AbortSignal): Promise<SpireHealth> {
    const url = `${baseUrl.replace(/\/$/, '')}/${probe}`;
    const timeout = AbortSignal.timeout(this.timeoutMs);
    let res: Response;
    let text: string;
    try {
      res = await fetch(url, { signal: signal === undefined ? timeout : AbortSignal.any([signal, timeout]) });
      text = await res.text();
    } catch (e) {
      throw new SpireHealthError(`${url}: unreachable: ${errorMessage(e)}`, 'retryable', { cause: e });
    }
    if (res.status !== 200 && res.status !== 500)
      throw new SpireHealthError(`${url}: unexpected HTTP ${res.status}`, httpStatusRetryClass(res.status));
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw new SpireHealthError(`${url}: HTTP ${res.status} body is not JSON: ${JSON.stringify(text.slice(0, 80))}`, 'permanent');
    }
    if (typeof body !== 'object' || body === null || Array.isArray(body))
      throw new SpireHealthError(`${url}: body is not a JSON object of subsystems`, 'permanent');
    const subsystems: Record<string, Record<string, unknown>> = {};
    for (const [k, v] of Object.entries(body)) {
      if (typeof v !== 'object' || v === null || Array.isArray(v))
        throw new SpireHealthError(`${url}: subsystem "${k}" is not an object`, 'permanent');
      subsystems[k] = v as Record<string, unknown>;
    }
    return { healthy: res.status === 200, status: res.status, subsystems };
  }
}
