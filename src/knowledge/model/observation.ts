/**
 * Observations are what monitor saw, with the time it saw it. The latest observation per
 * (subject, source) is kept in knowledge; an observation that changes state is also audited.
 */

/**
 * Every probe that writes observations (the closed set; a typo in a source name fails tsc).
 * Subjects per source: docs/architecture.md, "Monitor sources".
 */
export const OBSERVATION_SOURCES = [
  /** Envoy admin GET /certs, per workload. */
  'envoy.certs',
  /** Envoy admin GET /stats?format=json, per workload. */
  'envoy.stats',
  /** SPIRE server GetBundle + GetX509AuthorityState, on trust-domain:<td>. */
  'spire.server.bundle',
  /** SPIRE server ListAgents, per agent:<node>. */
  'spire.server.agent',
  /** SPIRE agent Debug GetInfo, per agent:<node>. */
  'spire.agent.debug',
  /** SPIRE agent SubscribeToX509Bundles (first message), per agent:<node>. */
  'spire.agent.bundle',
  /** SPIRE agent /ready, per agent:<node>. */
  'spire.agent.health',
  /** SPIRE agent Delegated Identity SubscribeToX509SVIDs, per workload. */
  'spire.delegated.svid',
  /** The trust-bundle ConfigMap, on configmap:<ns>/<name>. */
  'k8s.bundle',
  /** The Kubernetes lists and watches themselves (probe errors only), on kubernetes:<resource>. */
  'k8s.inventory',
  /** Cloud Run ListServices, per service (or cloudrun:<project>/<location> when the list fails). */
  'cloudrun.service',
  /** The Cloud Run CA-bundle secret, on secret:<name>. */
  'cloudrun.bundle',
] as const;

/** The name of a probe that writes observations. */
export type ObservationSource = (typeof OBSERVATION_SOURCES)[number];

/** The key of the latest observation per (subject, source), as analysis and reports index them. */
export function observationKey(subject: string, source: ObservationSource): string {
  return `${subject}|${source}`;
}

/** One certificate as Envoy's /certs reports it (normalised: numbers parsed, times in ms). */
export interface ServedCertificate {
  readonly serialNumber: string;
  readonly uriSans: readonly string[];
  readonly validFromMs: number;
  readonly expiresAtMs: number;
}

/** Envoy /certs read successfully. `chain` is the leaf-first SVID chain of the first TLS context. */
export interface EnvoyCertsData {
  readonly kind: 'envoy.certs';
  readonly chain: readonly ServedCertificate[];
  readonly caCerts: readonly ServedCertificate[];
}

/** Counters of one SDS secret (scope "sds.<secret>."), as Envoy's /stats reports them. */
export interface SdsSecretStats {
  /** Secret name with ':' replaced by '_' as Envoy does, e.g. "spiffe_//example.org/ns/a/sa/b". */
  readonly secret: string;
  readonly updateSuccess: number;
  readonly updateRejected: number;
  readonly updateFailure: number;
  readonly initFetchTimeout: number;
  readonly keyRotationFailed: number;
  /** update_time gauge (ms epoch), 0 when never updated. */
  readonly updateTimeMs: number;
}

/** TLS counters of one listener or cluster ("listener.<addr>" / "cluster.<name>"). */
export interface SslScopeStats {
  readonly scope: string;
  readonly handshake: number;
  readonly connectionError: number;
  readonly failVerifyError: number;
  readonly failVerifySan: number;
  readonly noCertificate: number;
}

/** Envoy /stats read successfully, reduced to what matters for mTLS health. */
export interface EnvoyStatsData {
  readonly kind: 'envoy.stats';
  readonly sds: readonly SdsSecretStats[];
  readonly ssl: readonly SslScopeStats[];
  /** Sum of downstream/upstream_context_secrets_not_ready: connections reset for lack of a secret. */
  readonly secretsNotReady: number;
  /** server.state gauge: 0 LIVE, 1 DRAINING, 2 PRE_INITIALIZING, 3 INITIALIZING; null when absent. */
  readonly serverState: number | null;
}

/** A probe failed: endpoint unreachable, non-2xx, malformed payload. Never silently dropped. */
export interface ProbeErrorData {
  readonly kind: 'probe.error';
  /** The probe that failed, e.g. "envoy.certs". */
  readonly probe: ObservationSource;
  readonly endpoint: string;
  readonly error: string;
}

/** The SVID a SPIRE agent holds for a workload (Delegated Identity SubscribeToX509SVIDs). */
export interface SpireSvidData {
  readonly kind: 'spire.svid';
  /** Node whose agent reported it. */
  readonly node: string;
  /** Leaf of the SVID; null when the agent's full-state message no longer lists one (removed). */
  readonly svid: ServedCertificate | null;
  /**
   * Set when this is the first message of a subscription: when that subscription was opened. The agent
   * answered a request made then, so it held this SVID at or after that time (a confirmation). A later
   * message on a stream says nothing about when the agent sent it: the receiver may have fallen behind.
   */
  readonly subscribedAtMs?: number;
}

/** A SPIRE agent's own state (Debug GetInfo). */
export interface SpireAgentData {
  readonly kind: 'spire.agent';
  readonly node: string;
  readonly agentId: string;
  /** last_sync_success in ms (0 = never synced). */
  readonly lastSyncSuccessMs: number;
  /** Expiry of the agent's own SVID, null when unknown. */
  readonly agentSvidExpiresAtMs: number | null;
  readonly cachedX509Svids: number;
}

/** The trust bundle a SPIRE agent distributes (Delegated Identity SubscribeToX509Bundles, own trust domain). */
export interface SpireAgentBundleData {
  readonly kind: 'spire.agent.bundle';
  readonly node: string;
  readonly trustDomain: string;
  readonly certificates: readonly BundleCertificate[];
}

/** A SPIRE agent's /ready answer: healthy (200) or not, with the subsystems that report a problem. */
export interface SpireHealthData {
  readonly kind: 'spire.health';
  readonly node: string;
  readonly healthy: boolean;
  readonly status: number;
  /** Subsystem names whose details are not empty. */
  readonly failing: readonly string[];
}

/** An attested agent as the SPIRE server's Agent API (ListAgents) reports it. */
export interface SpireServerAgentData {
  readonly kind: 'spire.server.agent';
  readonly node: string;
  readonly agentId: string;
  readonly banned: boolean;
  readonly canReattest: boolean;
  /** x509svid_expires_at in ms. */
  readonly svidExpiresAtMs: number;
}

/** One X.509 authority of a trust bundle. */
export interface BundleCertificate {
  readonly serialNumber: string;
  readonly expiresAtMs: number;
}

/** The SPIRE server's trust bundle and local X.509 authority slots. */
export interface SpireBundleData {
  readonly kind: 'spire.bundle';
  readonly trustDomain: string;
  /** uint64 as a decimal string. */
  readonly sequenceNumber: string;
  readonly authorities: readonly BundleCertificate[];
  /** Authority ids (SKID hex) of the local authority slots, null when empty. */
  readonly active: string | null;
  readonly prepared: string | null;
  readonly old: string | null;
}

/** The trust-bundle ConfigMap (spire/spire-bundle, key bundle.crt). */
export interface ConfigMapBundleData {
  readonly kind: 'k8s.bundle';
  readonly configMap: string;
  readonly certificates: readonly BundleCertificate[];
  /** Unparseable PEM blocks, a missing key…; empty when clean. */
  readonly problems: readonly string[];
}

/** The Cloud Run CA-bundle secret (Secret Manager, its latest version): what services mounting it read. */
export interface SecretBundleData {
  readonly kind: 'cloudrun.bundle';
  /** projects/<project>/secrets/<secret>. */
  readonly secret: string;
  /** The version `latest` resolved to, null when the secret has no readable version. */
  readonly version: string | null;
  readonly certificates: readonly BundleCertificate[];
  /** Unparseable PEM blocks, no readable version…; empty when clean. */
  readonly problems: readonly string[];
}

/** A Cloud Run service's rollout state. */
export interface CloudRunServiceData {
  readonly kind: 'cloudrun.service';
  readonly service: string;
  readonly ready: boolean;
  readonly latestCreatedRevision: string;
  readonly latestReadyRevision: string;
  /** One sentence per failed readiness criterion; empty when ready. */
  readonly notReady: readonly string[];
}

export type ObservationData =
  | EnvoyCertsData
  | EnvoyStatsData
  | ProbeErrorData
  | SpireSvidData
  | SpireAgentData
  | SpireAgentBundleData
  | SpireHealthData
  | SpireServerAgentData
  | SpireBundleData
  | ConfigMapBundleData
  | SecretBundleData
  | CloudRunServiceData;

export interface Observation {
  /** What was observed: a workload id for Envoy probes. */
  readonly subject: string;
  /** The probe that produced it. Error observations use the failing probe's name. */
  readonly source: ObservationSource;
  readonly observedAt: number;
  /**
   * Set by the knowledge store: when the observed state (observationStateKey) began, i.e. the first
   * observation of an unbroken run of the same state. Lets analysis debounce ("failing for 30 s").
   */
  readonly stateSince?: number;
  readonly data: ObservationData;
}

/** A stable summary of an observation used to decide whether state changed (and so is audited). */
export function observationStateKey(o: Observation): string {
  const d = o.data;
  if (d.kind === 'probe.error') return `error:${d.error}`;
  if (d.kind === 'envoy.stats') {
    // Only failure counters: handshake and success counters move all the time and are not state.
    const sum = (f: (x: SdsSecretStats) => number): number => d.sds.reduce((n, x) => n + f(x), 0);
    const ssl = (f: (x: SslScopeStats) => number): number => d.ssl.reduce((n, x) => n + f(x), 0);
    return (
      `stats:rejected=${sum((x) => x.updateRejected)},failure=${sum((x) => x.updateFailure)},initTimeout=${sum((x) => x.initFetchTimeout)},` +
      `keyRotFailed=${sum((x) => x.keyRotationFailed)},connErr=${ssl((x) => x.connectionError)},verify=${ssl((x) => x.failVerifyError)},san=${ssl((x) => x.failVerifySan)},` +
      `notReady=${d.secretsNotReady},state=${d.serverState ?? '-'}`
    );
  }
  switch (d.kind) {
    case 'envoy.certs':
      return `certs:${d.chain.map((c) => c.serialNumber).join(',')}|ca:${d.caCerts.map((c) => c.serialNumber).join(',')}`;
    case 'spire.svid':
      return `svid:${d.svid?.serialNumber ?? 'none'}`;
    // Sync times and counts move every poll; state is whether it syncs and which agent SVID it holds.
    case 'spire.agent':
      return `agent:svidExpires=${d.agentSvidExpiresAtMs ?? '-'}`;
    case 'spire.health':
      return `health:${d.healthy ? 'ready' : `not-ready(${d.failing.join(',')})`}`;
    case 'spire.agent.bundle':
      return `agent-bundle:${serials(d.certificates)}`;
    case 'spire.server.agent':
      return `server-agent:banned=${d.banned},reattest=${d.canReattest},expires=${d.svidExpiresAtMs}`;
    case 'spire.bundle':
      return `bundle:seq=${d.sequenceNumber}|${serials(d.authorities)}|active=${d.active ?? '-'}|prepared=${d.prepared ?? '-'}|old=${d.old ?? '-'}`;
    case 'k8s.bundle':
      return `configmap:${serials(d.certificates)}|problems=${d.problems.length}`;
    case 'cloudrun.bundle':
      return `secret:${serials(d.certificates)}|problems=${d.problems.length}`;
    case 'cloudrun.service':
      return `run:ready=${d.ready}|created=${d.latestCreatedRevision}|ready=${d.latestReadyRevision}`;
  }
}

function serials(certs: readonly BundleCertificate[]): string {
  return certs.map((c) => c.serialNumber).join(',');
}
