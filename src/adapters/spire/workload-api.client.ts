/** The SPIFFE Workload API client (agent public socket) over grpc-js. */
import * as grpc from '@grpc/grpc-js';
import type { Closable, WatchHandlers, WorkloadApiPort, WorkloadX509SvidUpdate, X509BundlesUpdate } from '../../ports/spire.port.js';
import { workloadEndpoint } from './endpoint.js';
import { DEFAULT_BACKOFF, rpcName, watchStream, type BackoffOptions } from './grpc-call.js';
import { SpireApiError } from './spire-error.js';
import {
  normaliseX509BundlesResponse,
  normaliseX509SvidResponse,
  type WireX509BundlesResponse,
  type WireX509SvidResponse,
} from './spire-wire.js';
import { errorMessage } from '../../knowledge/error-text.js';

/** The security header SPIRE requires on every /SpiffeWorkloadAPI/ call. */
export const WORKLOAD_SECURITY_HEADER = 'workload.spiffe.io';

/** Options of the Workload API client. */
export interface GrpcWorkloadApiOptions {
  readonly backoff?: BackoffOptions;
  /** Where SPIFFE_ENDPOINT_SOCKET is read from (default process.env). */
  readonly env?: NodeJS.ProcessEnv;
  /** Clock for receivedAtMs (default Date.now). */
  readonly now?: () => number;
}

/** Metadata carrying `workload.spiffe.io: true`. */
export function workloadMetadata(): grpc.Metadata {
  const md = new grpc.Metadata();
  md.set(WORKLOAD_SECURITY_HEADER, 'true');
  return md;
}

/** WorkloadApiPort over @grpc/grpc-js. */
export class GrpcWorkloadApi implements WorkloadApiPort {
  private readonly backoff: BackoffOptions;
  private readonly env: NodeJS.ProcessEnv;
  private readonly now: () => number;

  /** See GrpcWorkloadApiOptions for the defaults. */
  constructor(options: GrpcWorkloadApiOptions = {}) {
    this.backoff = options.backoff ?? DEFAULT_BACKOFF;
    this.env = options.env ?? process.env;
    this.now = options.now ?? Date.now;
  }

  /** Streams FetchX509SVID; every update is the full state. */
  watchX509Svids(endpoint: string | undefined, handlers: WatchHandlers<WorkloadX509SvidUpdate>): Closable {
    return this.watch('FetchX509SVID', endpoint, handlers, (m: WireX509SvidResponse) => normaliseX509SvidResponse(m, this.now()));
  }

  /** Streams FetchX509Bundles; every update is the full state. */
  watchX509Bundles(endpoint: string | undefined, handlers: WatchHandlers<X509BundlesUpdate>): Closable {
    return this.watch('FetchX509Bundles', endpoint, handlers, (m: WireX509BundlesResponse) => normaliseX509BundlesResponse(m, this.now()));
  }

  /** The first FetchX509SVID message. Rejects with the first failure (no retries). */
  fetchX509Svids(endpoint?: string, signal?: AbortSignal): Promise<WorkloadX509SvidUpdate> {
    return new Promise((resolve, reject) => {
      const handle = this.watchX509Svids(endpoint, {
        onUpdate: (u) => {
          handle.close();
          resolve(u);
        },
        onError: (f) => {
          handle.close();
          reject(f instanceof SpireApiError ? f : new SpireApiError(f.endpoint, f.rpc, f.code, f.message));
        },
      });
      signal?.addEventListener(
        'abort',
        () => {
          handle.close();
          reject(new SpireApiError(endpoint ?? '(SPIFFE_ENDPOINT_SOCKET)', rpcName('workload', 'FetchX509SVID'), 'CANCELLED', 'aborted'));
        },
        { once: true },
      );
    });
  }

  /**
   * `normalise` takes the decoded wire shape (asserted, hence `never`). The endpoint is resolved
   * on every (re)connect: neither given nor in SPIFFE_ENDPOINT_SOCKET is a BAD_ENDPOINT failure,
   * reported and retried with backoff like any other.
   */
  private watch<T>(method: string, endpoint: string | undefined, handlers: WatchHandlers<T>, normalise: (m: never) => T): Closable {
    const resolve = (): string => {
      try {
        return workloadEndpoint(endpoint, this.env);
      } catch (e) {
        throw new SpireApiError('(SPIFFE_ENDPOINT_SOCKET)', rpcName('workload', method), 'BAD_ENDPOINT', errorMessage(e), {
          cause: e,
        });
      }
    };
    return watchStream<never, T>({
      service: 'workload',
      method,
      endpoint: resolve,
      request: {},
      metadata: workloadMetadata,
      normalise,
      handlers,
      backoff: this.backoff,
    });
  }
}
