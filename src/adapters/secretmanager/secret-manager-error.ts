import { status } from '@grpc/grpc-js';
import { ClassifiedError, type RetryClass } from '../../knowledge/errors/classified-error.js';
import type { SecretStoreFailure } from '../../ports/secret-store.port.js';

/**
 * The retry class of every Secret Manager failure, for execute. A request the API refuses
 * (NotFound, PermissionDenied, Unauthenticated, InvalidArgument, FailedPrecondition: a disabled
 * version) and an answer that is not the message it should be are permanent; Unavailable, a
 * timeout, Aborted and any other status are retryable.
 */
export const SECRET_MANAGER_RETRY_CLASS: Readonly<Record<SecretStoreFailure, RetryClass>> = {
  not_found: 'permanent',
  permission_denied: 'permanent',
  unauthenticated: 'permanent',
  invalid_argument: 'permanent',
  failed_precondition: 'permanent',
  unavailable: 'retryable',
  timeout: 'retryable',
  aborted: 'retryable',
  malformed: 'permanent',
  rpc: 'retryable',
};

/** Where a failed call went: endpoint (host:port), RPC method and the resource it named. */
export interface SecretCallSite {
  readonly endpoint: string;
  readonly method: string;
  readonly resource: string;
}

/**
 * A failed Secret Manager call. The message names endpoint, method, resource and gRPC code;
 * `failure` is the port's classification, `grpcCode` the status name ('OK' when the call itself
 * succeeded but its payload did not); `retry` comes from SECRET_MANAGER_RETRY_CLASS. Payload bytes
 * never appear in a message.
 */
export class SecretManagerError extends ClassifiedError {
  override readonly name = 'SecretManagerError';

  /** `detail` is the server's (or the client's) explanation. */
  constructor(
    readonly failure: SecretStoreFailure,
    readonly site: SecretCallSite,
    readonly grpcCode: string,
    readonly detail: string,
    options?: ErrorOptions,
  ) {
    super(
      `Secret Manager ${site.method} ${site.resource} at ${site.endpoint} failed: ${failure} (gRPC ${grpcCode}): ${detail}`,
      SECRET_MANAGER_RETRY_CLASS[failure],
      options,
    );
  }
}

const PARSE_ERROR = 'Response message parsing error';
const INTERNAL: number = status.INTERNAL;

const FAILURES: Partial<Record<number, SecretStoreFailure>> = {
  [status.NOT_FOUND]: 'not_found',
  [status.PERMISSION_DENIED]: 'permission_denied',
  [status.UNAUTHENTICATED]: 'unauthenticated',
  [status.INVALID_ARGUMENT]: 'invalid_argument',
  [status.OUT_OF_RANGE]: 'invalid_argument',
  [status.FAILED_PRECONDITION]: 'failed_precondition',
  [status.UNAVAILABLE]: 'unavailable',
  [status.DEADLINE_EXCEEDED]: 'timeout',
  [status.ABORTED]: 'aborted',
};

function statusName(code: number): string {
  return (status as unknown as Record<number, string | undefined>)[code] ?? `CODE_${code}`;
}

/** A gax/grpc error (code + details) as a SecretManagerError at `site`; other throwables become `rpc` with code UNKNOWN. */
export function toSecretManagerError(e: unknown, site: SecretCallSite): SecretManagerError {
  if (e instanceof SecretManagerError) return e;
  const err = e as { code?: unknown; details?: unknown; message?: unknown } | null;
  const message = typeof err?.message === 'string' ? err.message : String(e);
  const detail = typeof err?.details === 'string' && err.details !== '' ? err.details : message;
  if (typeof err?.code !== 'number') return new SecretManagerError('rpc', site, 'UNKNOWN', detail, { cause: e });
  const failure = err.code === INTERNAL && detail.startsWith(PARSE_ERROR) ? 'malformed' : (FAILURES[err.code] ?? 'rpc');
  return new SecretManagerError(failure, site, statusName(err.code), detail, { cause: e });
}
