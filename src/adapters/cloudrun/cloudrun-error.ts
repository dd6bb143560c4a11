import { status } from '@grpc/grpc-js';
import type { CloudRunFailure } from '../../ports/cloudrun.port.js';

/** Where a failed call went: endpoint (host:port), RPC method and the resource it named. */
export interface CloudRunCallSite {
  readonly endpoint: string;
  readonly method: string;
  readonly resource: string;
}

/**
 * A failed Cloud Run Admin API call. The message names endpoint, method, resource and gRPC code;
 * `failure` is the port's classification, `grpcCode` the status name ('OK' when the call itself
 * succeeded but its payload or outcome did not).
 */
export class CloudRunError extends Error {
  override readonly name = 'CloudRunError';

  /** `detail` is the server's (or the client's) explanation. */
  constructor(
    readonly failure: CloudRunFailure,
    readonly site: CloudRunCallSite,
    readonly grpcCode: string,
    readonly detail: string,
    options?: ErrorOptions,
  ) {
    super(`Cloud Run ${site.method} ${site.resource} at ${site.endpoint} failed: ${failure} (gRPC ${grpcCode}): ${detail}`, options);
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
  [status.UNAVAILABLE]: 'unavailable',
  [status.DEADLINE_EXCEEDED]: 'timeout',
  [status.ABORTED]: 'aborted',
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
