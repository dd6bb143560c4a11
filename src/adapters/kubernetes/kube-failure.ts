/**
 * Turns whatever @kubernetes/client-node throws or reports (ApiException with a raw JSON body,
 * a watch Error with `statusCode`, node-fetch FetchError, JSON SyntaxError, AbortError) into a
 * KubeFailure whose message names the operation, the endpoint and the resource.
 */
import { ApiException } from '@kubernetes/client-node';
import { ClassifiedError, type RetryClass } from '../../knowledge/errors/classified-error.js';
import { errorMessage } from '../../knowledge/error-text.js';
import type { KubeFailure, KubeFailureCode } from '../../ports/kubernetes.port.js';

/**
 * The retry class of every Kubernetes failure code, for execute (the inventory watch restarts
 * after every failure, whatever its class). A request the API server refuses (401, 403, 404,
 * 400/415/422 and other 4xx) is permanent; a conflict (409, a write raced another), 410 Gone,
 * 429, 5xx, a timeout, a network error, a body that is not JSON (a connection cut mid-answer) and
 * anything unrecognised are retryable.
 */
export const KUBE_RETRY_CLASS: Readonly<Record<KubeFailureCode, RetryClass>> = {
  not_found: 'permanent',
  conflict: 'retryable',
  unauthorized: 'permanent',
  forbidden: 'permanent',
  invalid: 'permanent',
  expired: 'retryable',
  too_many_requests: 'retryable',
  server_error: 'retryable',
  unavailable: 'retryable',
  malformed: 'retryable',
  network: 'retryable',
  timeout: 'retryable',
  unknown: 'retryable',
};

/** An Error carrying a KubeFailure (what the adapter's calls reject with); `retry` from KUBE_RETRY_CLASS. */
export class KubernetesError extends ClassifiedError {
  override readonly name = 'KubernetesError';

  /** Wraps `failure`; the message is the failure's message. */
  constructor(
    readonly failure: KubeFailure,
    options?: ErrorOptions,
  ) {
    super(failure.message, KUBE_RETRY_CLASS[failure.code], options);
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
    const message = errorMessage(err);
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
  };
}
