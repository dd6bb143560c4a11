/**
 * Ports to SPIRE: the agent's Workload API (public socket), its admin socket (Delegated Identity,
 * Debug), the server's read-side APIs and the SPIRE HTTP health endpoints. Everything returned is
 * normalised plain data: times are ms since epoch, serials and fingerprints lowercase hex, DER
 * certificates parsed. Endpoints are SPIFFE endpoint URIs: `unix:///abs/path` or `tcp://IP:port`.
 */
import type { RetryClass } from '../knowledge/errors/classified-error.js';

/** One certificate, parsed from DER. */
export interface SpireCertificate {
  /** Serial number, lowercase hex. */
  readonly serialHex: string;
  /** SHA-256 of the DER, lowercase hex without separators. */
  readonly sha256: string;
  readonly subject: string;
  readonly issuer: string;
  /** URI SANs (the SPIFFE ID of an SVID leaf; spiffe://<td> on a SPIRE CA). */
  readonly uriSans: readonly string[];
  readonly notBeforeMs: number;
  readonly notAfterMs: number;
  readonly isCa: boolean;
  /** Subject Key Identifier, lowercase hex (SPIRE's X.509 authority_id), when the certificate carries one. */
  readonly subjectKeyId?: string;
  readonly der: Uint8Array;
}

/** Certificates per trust-domain ID ("spiffe://example.org"). */
export type TrustBundles = Readonly<Record<string, readonly SpireCertificate[]>>;

/** One X509-SVID from the Workload API. The private key is checked for presence and then dropped. */
export interface WorkloadX509Svid {
  readonly spiffeId: string;
  /** Leaf first. */
  readonly chain: readonly SpireCertificate[];
  /** CA certificates of the SVID's own trust domain. */
  readonly bundle: readonly SpireCertificate[];
  readonly hint: string;
  readonly hasKey: boolean;
}

/** One FetchX509SVID message: the FULL state (an SVID or bundle not listed was removed). */
export interface WorkloadX509SvidUpdate {
  readonly svids: readonly WorkloadX509Svid[];
  readonly federatedBundles: TrustBundles;
  readonly crlCount: number;
  readonly receivedAtMs: number;
}

/** One FetchX509Bundles or SubscribeToX509Bundles message: the full set of bundles. */
export interface X509BundlesUpdate {
  readonly bundles: TrustBundles;
  readonly crlCount: number;
  readonly receivedAtMs: number;
}

/** A workload selector, e.g. {type:"k8s", value:"ns:shop"}. */
export interface SpireSelector {
  readonly type: string;
  readonly value: string;
}

/** One SVID delivered over the Delegated Identity API. */
export interface DelegatedX509Svid {
  readonly spiffeId: string;
  readonly chain: readonly SpireCertificate[];
  /** expires_at as the agent reported it. */
  readonly expiresAtMs: number;
  readonly hint: string;
  readonly hasKey: boolean;
}

/** One SubscribeToX509SVIDs message: the full set of SVIDs for the selectors. */
export interface DelegatedX509SvidsUpdate {
  readonly svids: readonly DelegatedX509Svid[];
  readonly federatesWith: readonly string[];
  readonly receivedAtMs: number;
}

/**
 * gRPC status code names, plus: MALFORMED (the response decoded but made no sense: bad DER, bad ID),
 * BAD_ENDPOINT (not a SPIFFE endpoint URI), STREAM_ENDED (the server closed a stream with OK).
 */
export type SpireFailureCode =
  | 'CANCELLED'
  | 'UNKNOWN'
  | 'INVALID_ARGUMENT'
  | 'DEADLINE_EXCEEDED'
  | 'NOT_FOUND'
  | 'ALREADY_EXISTS'
  | 'PERMISSION_DENIED'
  | 'RESOURCE_EXHAUSTED'
  | 'FAILED_PRECONDITION'
  | 'ABORTED'
  | 'OUT_OF_RANGE'
  | 'UNIMPLEMENTED'
  | 'INTERNAL'
  | 'UNAVAILABLE'
  | 'DATA_LOSS'
  | 'UNAUTHENTICATED'
  | 'MALFORMED'
  | 'BAD_ENDPOINT'
  | 'STREAM_ENDED';

/** Why a SPIRE call failed, as the monitor records it (the message names endpoint, RPC and code). */
export interface SpireFailure {
  readonly message: string;
  readonly endpoint: string;
  /** "Service/Method", e.g. "SpiffeWorkloadAPI/FetchX509SVID". */
  readonly rpc: string;
  readonly code: SpireFailureCode;
  /**
   * Whether another delivery of a remediation job may get past it (the adapter's table per code:
   * PermissionDenied, NotFound, InvalidArgument… are permanent). For execute only: watches
   * reconnect after every failure, whatever its class.
   */
  readonly retry: RetryClass;
}

/**
 * What a watch reports. `onError` is called for every failure with the delay before the watch
 * reconnects: a watch never gives up by itself (capped backoff), only close() ends it.
 */
export interface WatchHandlers<T> {
  onUpdate(update: T): void;
  onError(failure: SpireFailure, willRetryInMs: number): void;
}

/** A running watch; close() cancels the call and any pending reconnect. Idempotent. */
export interface Closable {
  close(): void;
}

/**
 * The Workload API on an agent's public socket. `endpoint` undefined means SPIFFE_ENDPOINT_SOCKET.
 * Watches reconnect after every failure (at once after a normal stream end, else with capped
 * backoff), PermissionDenied "no identity issued" and InvalidArgument included: a monitor keeps
 * watching and records each failure.
 */
export interface WorkloadApiPort {
  /** Streams FetchX509SVID. */
  watchX509Svids(endpoint: string | undefined, handlers: WatchHandlers<WorkloadX509SvidUpdate>): Closable;
  /** Streams FetchX509Bundles. */
  watchX509Bundles(endpoint: string | undefined, handlers: WatchHandlers<X509BundlesUpdate>): Closable;
  /** The first FetchX509SVID message, then closes the stream. Rejects with a SpireFailure-shaped Error. */
  fetchX509Svids(endpoint?: string, signal?: AbortSignal): Promise<WorkloadX509SvidUpdate>;
}

/** The agent admin socket's Delegated Identity API: how a per-node daemon watches every workload. */
export interface DelegatedIdentityPort {
  /** Streams SubscribeToX509SVIDs for the workload identified by `selectors`. */
  watchX509Svids(adminEndpoint: string, selectors: readonly SpireSelector[], handlers: WatchHandlers<DelegatedX509SvidsUpdate>): Closable;
  /** Streams SubscribeToX509Bundles (keys are trust-domain IDs). */
  watchX509Bundles(adminEndpoint: string, handlers: WatchHandlers<X509BundlesUpdate>): Closable;
}

/** One certificate of the agent's own SVID chain as Debug.GetInfo reports it. */
export interface AgentDebugCert {
  readonly spiffeId: string;
  readonly expiresAtMs: number;
  readonly subject: string;
}

/** Debug.GetInfo, normalised. */
export interface AgentDebugInfo {
  readonly svidChain: readonly AgentDebugCert[];
  readonly uptimeSeconds: number;
  /** last_sync_success in ms; 0 when the agent never synced. Stale sync = now - this. */
  readonly lastSyncSuccessMs: number;
  /** svid_chain[0].expires_at in ms, null when the chain is empty. */
  readonly agentSvidExpiresAtMs: number | null;
  readonly cachedX509SvidsCount: number;
  readonly cachedJwtSvidsCount: number;
  readonly cachedSvidStoreX509SvidsCount: number;
}

/** spire.agent.debug.v1.Debug on the admin socket. Rejects with a SpireFailure-shaped Error. */
export interface AgentDebugPort {
  getInfo(adminEndpoint: string, signal?: AbortSignal): Promise<AgentDebugInfo>;
}

/** One attested agent as the server knows it. */
export interface SpireAgentRecord {
  readonly spiffeId: string;
  readonly attestationType: string;
  readonly serialHex: string;
  /** x509svid_expires_at in ms. */
  readonly svidExpiresAtMs: number;
  readonly selectors: readonly SpireSelector[];
  readonly banned: boolean;
  readonly canReattest: boolean;
  readonly agentVersion: string;
}

/** ListAgents filter (all optional). */
export interface ListAgentsFilter {
  readonly attestationType?: string;
  readonly banned?: boolean;
  readonly canReattest?: boolean;
}

/** One X.509 authority of the trust bundle. */
export interface BundleAuthority {
  readonly certificate: SpireCertificate;
  readonly tainted: boolean;
}

/** GetBundle, normalised. */
export interface SpireBundle {
  /** Trust domain name ("example.org", not a URI). */
  readonly trustDomain: string;
  readonly x509Authorities: readonly BundleAuthority[];
  readonly refreshHintSeconds: number;
  /** uint64 as a decimal string (it may exceed 2^53). */
  readonly sequenceNumber: string;
}

/** One slot of the local X.509 authority. */
export interface AuthoritySlot {
  /** Hex SKID of the CA certificate. */
  readonly authorityId: string;
  readonly expiresAtMs: number;
  readonly upstreamAuthoritySubjectKeyId: string;
}

/** GetX509AuthorityState: null when a slot is empty. */
export interface X509AuthorityState {
  readonly active: AuthoritySlot | null;
  readonly prepared: AuthoritySlot | null;
  readonly old: AuthoritySlot | null;
}

/** What DeleteAgent did: `not_found` means the server had no such agent (already evicted), which counts as done. */
export type DeleteAgentResult = 'deleted' | 'not_found';

/**
 * The SPIRE server's APIs, on the endpoint the adapter was built for. Rejects with SpireFailure-shaped
 * Errors. The write side is deliberately small: evicting an agent and the LocalAuthority X.509
 * rotation steps. There is no BanAgent: a ban blocks re-attestation and is never a remedy.
 */
export interface SpireServerPort {
  /** Every agent matching `filter`, following next_page_token until it is empty. */
  listAgents(filter?: ListAgentsFilter, signal?: AbortSignal): Promise<SpireAgentRecord[]>;
  /** One agent; rejects with NOT_FOUND when unknown. */
  getAgent(spiffeId: string, signal?: AbortSignal): Promise<SpireAgentRecord>;
  /** The server's own trust bundle. */
  getBundle(signal?: AbortSignal): Promise<SpireBundle>;
  /** Active/prepared/old X.509 authorities. */
  getX509AuthorityState(signal?: AbortSignal): Promise<X509AuthorityState>;
  /**
   * Agent/DeleteAgent ("evict"): the server forgets the agent, whose next sync is refused; an agent
   * whose attestor supports it (`canReattest`) attests again and gets a new SVID. Idempotent:
   * NotFound resolves `not_found`. Rejects INVALID_ARGUMENT for a malformed ID.
   */
  deleteAgent(spiffeId: string, signal?: AbortSignal): Promise<DeleteAgentResult>;
  /**
   * LocalAuthority/PrepareX509Authority: a new CA goes into the bundle (propagating to every agent)
   * but does not sign yet. Resolves the prepared slot.
   */
  prepareX509Authority(signal?: AbortSignal): Promise<AuthoritySlot>;
  /**
   * LocalAuthority/ActivateX509Authority: the prepared authority `authorityId` signs from now on
   * and the previous one becomes old. INVALID_ARGUMENT when it is not the prepared one.
   */
  activateX509Authority(authorityId: string, signal?: AbortSignal): Promise<AuthoritySlot>;
  /**
   * LocalAuthority/TaintX509Authority: marks the OLD authority tainted in the bundle, so agents
   * rotate every SVID it signed at once. INVALID_ARGUMENT for the active or a prepared authority;
   * FAILED_PRECONDITION with an upstream authority.
   */
  taintX509Authority(authorityId: string, signal?: AbortSignal): Promise<AuthoritySlot>;
  /**
   * LocalAuthority/RevokeX509Authority: removes the OLD, tainted authority from the bundle. Any
   * SVID it signed stops verifying. The answer carries only the id (`expiresAtMs` 0).
   */
  revokeX509Authority(authorityId: string, signal?: AbortSignal): Promise<AuthoritySlot>;
}

/** One /live or /ready answer: 200 healthy, 500 not; the body maps subsystem → details (empty = OK). */
export interface SpireHealth {
  readonly healthy: boolean;
  readonly status: number;
  readonly subsystems: Readonly<Record<string, Readonly<Record<string, unknown>>>>;
}

/** SPIRE agent/server HTTP health (`baseUrl` like http://127.0.0.1:8080). Rejects when unreachable or malformed. */
export interface SpireHealthPort {
  check(baseUrl: string, probe: 'live' | 'ready', signal?: AbortSignal): Promise<SpireHealth>;
}
