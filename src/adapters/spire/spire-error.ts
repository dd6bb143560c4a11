/** Typed failures of SPIRE calls: the message always names the endpoint, the RPC and the code. */
import * as grpc from '@grpc/grpc-js';
import type { SpireFailure, SpireFailureCode } from '../../ports/spire.port.js';

/** Codes the Workload Endpoint spec (§6, Appendix A) says never to retry. */
const FINAL_CODES: ReadonlySet<SpireFailureCode> = new Set(['INVALID_ARGUMENT', 'UNIMPLEMENTED', 'BAD_ENDPOINT']);

/** A failed SPIRE call. `code` is the gRPC status name, or MALFORMED / BAD_ENDPOINT / STREAM_ENDED. */
export class SpireApiError extends Error implements SpireFailure {
  override readonly name = 'SpireApiError';
  /** False for InvalidArgument, Unimplemented and a bad endpoint. */
  readonly retryable: boolean;

  /** `rpc` is "Service/Method" (short service name); `detail` is the server's or parser's text. */
  constructor(
    readonly endpoint: string,
    readonly rpc: string,
    readonly code: SpireFailureCode,
    readonly detail: string,
    options?: ErrorOptions,
  ) {
    super(`${endpoint} ${rpc}: ${code}: ${detail}`, options);
    this.retryable = !FINAL_CODES.has(code);
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
  return new SpireApiError(endpoint, rpc, 'UNKNOWN', err instanceof Error ? err.message : String(err), { cause: err });
}

/** A response that decoded but whose content is unusable. */
export function malformed(endpoint: string, rpc: string, err: unknown): SpireApiError {
  return new SpireApiError(endpoint, rpc, 'MALFORMED', `malformed response: ${err instanceof Error ? err.message : String(err)}`, {
    cause: err,
  });
}
