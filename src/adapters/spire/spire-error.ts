/** Typed failures of SPIRE calls: the message always names the endpoint, the RPC and the code. */
import * as grpc from '@grpc/grpc-js';
import { ClassifiedError, type RetryClass } from '../../knowledge/errors/classified-error.js';
import { errorMessage } from '../../knowledge/error-text.js';
import type { SpireFailure, SpireFailureCode } from '../../ports/spire.port.js';

/**
 * The retry class of every SPIRE failure code, for execute (watches reconnect whatever the class).
 * A request or caller the server refuses (PermissionDenied, NotFound, InvalidArgument,
 * FailedPrecondition, Unauthenticated, Unimplemented, AlreadyExists, OutOfRange) and an endpoint
 * that is not a SPIFFE endpoint URI are permanent; an unavailable, slow, overloaded or failing
 * server, a conflict (Aborted), a cancelled call, a closed stream and an answer that does not decode
 * (MALFORMED: a half-written rotation, a proxy in the way) are retryable.
 */
export const SPIRE_RETRY_CLASS: Readonly<Record<SpireFailureCode, RetryClass>> = {
  CANCELLED: 'retryable',
  UNKNOWN: 'retryable',
  INVALID_ARGUMENT: 'permanent',
  DEADLINE_EXCEEDED: 'retryable',
  NOT_FOUND: 'permanent',
  ALREADY_EXISTS: 'permanent',
  PERMISSION_DENIED: 'permanent',
  RESOURCE_EXHAUSTED: 'retryable',
  FAILED_PRECONDITION: 'permanent',
  ABORTED: 'retryable',
  OUT_OF_RANGE: 'permanent',
  UNIMPLEMENTED: 'permanent',
  INTERNAL: 'retryable',
  UNAVAILABLE: 'retryable',
  DATA_LOSS: 'retryable',
  UNAUTHENTICATED: 'permanent',
  MALFORMED: 'retryable',
  BAD_ENDPOINT: 'permanent',
  STREAM_ENDED: 'retryable',
};

/**
 * A failed SPIRE call. `code` is the gRPC status name, or MALFORMED / BAD_ENDPOINT / STREAM_ENDED;
 * `retry` comes from SPIRE_RETRY_CLASS.
 */
export class SpireApiError extends ClassifiedError implements SpireFailure {
  override readonly name = 'SpireApiError';

  /** `rpc` is "Service/Method" (short service name); `detail` is the server's or parser's text. */
  constructor(
    readonly endpoint: string,
    readonly rpc: string,
    readonly code: SpireFailureCode,
    readonly detail: string,
    options?: ErrorOptions,
  ) {
    super(`${endpoint} ${rpc}: ${code}: ${detail}`, SPIRE_RETRY_CLASS[code], options);
  }
}

/** The status name of a numeric gRPC code ("UNKNOWN" for anything unexpected). */
export function grpcCodeName(code: number): SpireFailureCode {
  const name: string | undefined = grpc.status[code];
  return name === undefined || name === 'OK' ? 'UNKNOWN' : (name as SpireFailureCode);
}

/** Wraps whatever a grpc-js call failed with into a SpireApiError. */
export function toSpireError(err: unknown, endpoint: string, rpc: string): SpireApiError {
  if (err instanceof SpireApiError) return err;
  const e = err as Partial<grpc.ServiceError> | undefined;
  // grpc-js appends an empty "Resolution note: " to connection failures; it says nothing.
  if (typeof e?.code === 'number')
    return new SpireApiError(
      endpoint,
      rpc,
      grpcCodeName(e.code),
      (e.details ?? e.message ?? '').replace(/\.?\s*Resolution note:\s*$/, ''),
      { cause: err },
    );
  return new SpireApiError(endpoint, rpc, 'UNKNOWN', errorMessage(err), { cause: err });
}

/** A response that decoded but whose content is unusable. */
export function malformed(endpoint: string, rpc: string, err: unknown): SpireApiError {
  return new SpireApiError(endpoint, rpc, 'MALFORMED', `malformed response: ${errorMessage(err)}`, {
    cause: err,
  });
}
