import { status } from '@grpc/grpc-js';
import { ClassifiedError, type RetryClass } from '../../knowledge/errors/classified-error.js';
import type { CloudRunFailure } from '../../ports/cloudrun.port.js';

/**
 * The retry class of every Cloud Run failure, for execute. A request the API refuses (NotFound,
 * InvalidArgument, PermissionDenied, Unauthenticated, FailedPrecondition), a payload that is not a
 * Service and a rollout whose operation failed (the new revision does not start: a retry rolls the
 * same template) are permanent; Unavailable, a timeout, Aborted (a concurrent update), a quota
 * (ResourceExhausted) and any other status are retryable.
 */
export const CLOUDRUN_RETRY_CLASS: Readonly<Record<CloudRunFailure, RetryClass>> = {
  not_found: 'permanent',
  invalid_argument: 'permanent',
  permission_denied: 'permanent',
  unauthenticated: 'permanent',
  failed_precondition: 'permanent',
  unavailable: 'retryable',
  timeout: 'retryable',
  aborted: 'retryable',
  resource_exhausted: 'retryable',
  malformed: 'permanent',
  rollout_failed: 'permanent',
  rpc: 'retryable',
};

/** Where a failed call went: endpoint (host:port), RPC method and the resource it named. */
export interface CloudRunCallSite {
  readonly endpoint: string;
  readonly method: string;
  readonly resource: string;
}

/**
 * A failed Cloud Run Admin API call. The message names endpoint, method, resource and gRPC code;
 * `failure` is the port's classification, `grpcCode` the status name ('OK' when the call itself
 * succeeded but its payload or outcome did not); `retry` comes from CLOUDRUN_RETRY_CLASS.
 */
export class CloudRunError extends ClassifiedError {
  override readonly name = 'CloudRunError';

  /** `detail` is the server's (or the client's) explanation. */
  constructor(
    readonly failure: CloudRunFailure,
    readonly site: CloudRunCallSite,
    readonly grpcCode: string,
    readonly detail: string,
    options?: ErrorOptions,
  ) {
    super(
      `Cloud Run ${site.method} ${site.resource} at ${site.endpoint} failed: ${failure} (gRPC ${grpcCode}): ${detail}`,
      CLOUDRUN_RETRY_CLASS[failure],
      options,
    );
  }
}

/** grpc-js's wording when a response does not decode as the expected message. */
const PARSE_ERROR = 'Response message parsing error';
const INTERNAL: number = status.INTERNAL;

/** The status name of a numeric gRPC code ("NOT_FOUND"), or "CODE_<n>". */
export function statusName(code: number): string {
  return (status as unknown as Record<number, string | undefined>)[code] ?? `CODE_${code}`;
}

/** The port's failure for each gRPC status that has its own; the rest are `rpc`. */
const FAILURES: Partial<Record<number, CloudRunFailure>> = {
  [status.NOT_FOUND]: 'not_found',
  [status.INVALID_ARGUMENT]: 'invalid_argument',
  [status.OUT_OF_RANGE]: 'invalid_argument',
  [status.PERMISSION_DENIED]: 'permission_denied',
  [status.UNAUTHENTICATED]: 'unauthenticated',
  [status.FAILED_PRECONDITION]: 'failed_precondition',
  [status.UNAVAILABLE]: 'unavailable',
  [status.DEADLINE_EXCEEDED]: 'timeout',
  [status.ABORTED]: 'aborted',
  [status.RESOURCE_EXHAUSTED]: 'resource_exhausted',
};

/** The port's failure for a gRPC status (and its details, which tell a decode failure apart). */
export function failureOf(code: number, detail: string): CloudRunFailure {
  if (code === INTERNAL && detail.startsWith(PARSE_ERROR)) return 'malformed';
  return FAILURES[code] ?? 'rpc';
}

/** A gax/grpc error (code + details) as a CloudRunError at `site`; other throwables become `rpc` with code UNKNOWN. */
export function toCloudRunError(e: unknown, site: CloudRunCallSite): CloudRunError {
  if (e instanceof CloudRunError) return e;
  const err = e as { code?: unknown; details?: unknown; message?: unknown } | null;
  const message = typeof err?.message === 'string' ? err.message : String(e);
  const detail = typeof err?.details === 'string' && err.details !== '' ? err.details : message;
  if (typeof err?.code !== 'number') return new CloudRunError('rpc', site, 'UNKNOWN', detail, { cause: e });
  return new CloudRunError(failureOf(err.code, detail), site, statusName(err.code), detail, { cause: e });
}
