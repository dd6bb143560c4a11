/** Clients of the SPIRE agent admin socket: Delegated Identity (streams) and Debug.GetInfo. */
import type {
  AgentDebugInfo,
  AgentDebugPort,
  Closable,
  DelegatedIdentityPort,
  DelegatedX509SvidsUpdate,
  SpireSelector,
  WatchHandlers,
  X509BundlesUpdate,
} from '../../ports/spire.port.js';
import { DEFAULT_BACKOFF, unaryCall, watchStream, type BackoffOptions } from './grpc-call.js';
import {
  normaliseDebugInfo,
  normaliseDelegatedBundles,
  normaliseDelegatedSvids,
  type WireDebugInfo,
  type WireDelegatedBundles,
  type WireDelegatedSvids,
} from './spire-wire.js';

/** Options of the admin-socket clients. */
export interface GrpcAgentAdminOptions {
  readonly backoff?: BackoffOptions;
  /** Deadline of unary calls (default 5000 ms). */
  readonly timeoutMs?: number;
  /** Clock for receivedAtMs (default Date.now). */
  readonly now?: () => number;
}

/** DelegatedIdentityPort and AgentDebugPort over @grpc/grpc-js. */
export class GrpcAgentAdmin implements DelegatedIdentityPort, AgentDebugPort {
  private readonly backoff: BackoffOptions;
  private readonly timeoutMs: number;
  private readonly now: () => number;

  /** See GrpcAgentAdminOptions for the defaults. */
  constructor(options: GrpcAgentAdminOptions = {}) {
    this.backoff = options.backoff ?? DEFAULT_BACKOFF;
    this.timeoutMs = options.timeoutMs ?? 5_000;
    this.now = options.now ?? Date.now;
  }

  /** Streams SubscribeToX509SVIDs for `selectors` (never sends a PID). */
  watchX509Svids(adminEndpoint: string, selectors: readonly SpireSelector[], handlers: WatchHandlers<DelegatedX509SvidsUpdate>): Closable {
    return watchStream<WireDelegatedSvids, DelegatedX509SvidsUpdate>({
      service: 'delegatedIdentity',
      method: 'SubscribeToX509SVIDs',
      endpoint: adminEndpoint,
      request: { selectors: selectors.map((s) => ({ type: s.type, value: s.value })) },
      normalise: (m) => normaliseDelegatedSvids(m, this.now()),
      handlers,
      backoff: this.backoff,
    });
  }

  /** Streams SubscribeToX509Bundles. */
  watchX509Bundles(adminEndpoint: string, handlers: WatchHandlers<X509BundlesUpdate>): Closable {
    return watchStream<WireDelegatedBundles, X509BundlesUpdate>({
      service: 'delegatedIdentity',
      method: 'SubscribeToX509Bundles',
      endpoint: adminEndpoint,
      request: {},
      normalise: (m) => normaliseDelegatedBundles(m, this.now()),
      handlers,
      backoff: this.backoff,
    });
  }

  /** spire.agent.debug.v1.Debug/GetInfo. */
  getInfo(adminEndpoint: string, signal?: AbortSignal): Promise<AgentDebugInfo> {
    return unaryCall<WireDebugInfo, AgentDebugInfo>({
      service: 'agentDebug',
      method: 'GetInfo',
      endpoint: adminEndpoint,
      request: {},
      timeoutMs: this.timeoutMs,
      signal,
      normalise: normaliseDebugInfo,
    });
  }
}
