/**
 * Turns whatever @kubernetes/client-node throws or reports (ApiException with a raw JSON body,
 * a watch Error with `statusCode`, node-fetch FetchError, JSON SyntaxError, AbortError) into a
 * KubeFailure whose message names the operation, the endpoint and the resource.
 */
import { ApiException } from '@kubernetes/client-node';
import type { KubeFailure, KubeFailureCode } from '../../ports/kubernetes.port.js';

/** An Error carrying a KubeFailure (what the adapter's writes reject with). */
export class KubernetesError extends Error {
  override readonly name = 'KubernetesError';

  /** Wraps `failure`; the message is the failure's message. */
  constructor(readonly failure: KubeFailure) {
    super(failure.message);
  }
}

const BY_STATUS: Readonly<Record<number, KubeFailureCode>> = {
  400: 'invalid',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not_found',
  409: 'conflict',
  410: 'expired',
  415: 'invalid',
  422: 'invalid',
  429: 'too_many_requests',
  500: 'server_error',
  502: 'unavailable',
  503: 'unavailable',
  504: 'timeout',
};

const RETRYABLE = new Set<KubeFailureCode>([
  'conflict',
  'expired',
  'too_many_requests',
  'server_error',
  'unavailable',
  'malformed',
  'network',
  'timeout',
  'unknown',
]);

/** The `message` of a meta/v1 Status JSON body, or undefined when the body is not one. */
function statusMessage(body: unknown): string | undefined {
  let parsed: unknown = body;
  if (typeof body === 'string') {
    try {
      parsed = JSON.parse(body);
    } catch {
      return body.trim() === '' ? undefined : body.trim().slice(0, 200);
    }
  }
  if (typeof parsed === 'object' && parsed !== null && typeof (parsed as { message?: unknown }).message === 'string') {
    return (parsed as { message: string }).message;
  }
  return undefined;
}

function fieldOf(e: unknown, key: string): unknown {
  return typeof e === 'object' && e !== null ? (e as Record<string, unknown>)[key] : undefined;
}

/**
 * Classifies `err` from `operation` ("list", "watch", "patch", …) on `resource` at `endpoint`.
 * Never throws.
 */
export function toKubeFailure(err: unknown, operation: string, endpoint: string, resource: string): KubeFailure {
  let httpStatus: number | null = null;
  let code: KubeFailureCode = 'unknown';
  let detail: string;
  if (err instanceof ApiException) {
    httpStatus = typeof err.code === 'number' ? err.code : null;
    code = httpStatus === null ? 'unknown' : (BY_STATUS[httpStatus] ?? (httpStatus >= 500 ? 'server_error' : 'invalid'));
    detail = `HTTP ${String(httpStatus)}: ${statusMessage(err.body) ?? 'no Status message'}`;
  } else {
    const statusCode = fieldOf(err, 'statusCode');
    const sysCode = fieldOf(err, 'code');
    const name = fieldOf(err, 'name');
    const message = err instanceof Error ? err.message : String(err);
    if (typeof statusCode === 'number') {
      httpStatus = statusCode;
      code = BY_STATUS[statusCode] ?? (statusCode >= 500 ? 'server_error' : 'invalid');
      detail = `HTTP ${statusCode}: ${message}`;
    } else if (err instanceof SyntaxError || /JSON|Unexpected token|is not valid/.test(message)) {
      code = 'malformed';
      detail = `response is not valid JSON (${message})`;
    } else if (name === 'AbortError' || name === 'TimeoutError' || sysCode === 'ETIMEDOUT') {
      code = 'timeout';
      detail = message;
    } else if (typeof sysCode === 'string' && /^E[A-Z]+/.test(sysCode)) {
      code = 'network';
      detail = `${sysCode}: ${message}`;
    } else if (fieldOf(err, 'type') === 'system' || name === 'FetchError') {
      code = 'network';
      detail = message;
    } else {
      detail = message;
    }
  }
  return {
    message: `kubernetes ${operation} ${resource} at ${endpoint} failed: ${detail}`,
    endpoint,
    resource,
    code,
    httpStatus,
    retryable: RETRYABLE.has(code),
  };
}
