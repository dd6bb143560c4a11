/**
 * Observations are what monitor saw, with the time it saw it. The latest observation per
 * (subject, source) is kept in knowledge; an observation that changes state is also audited.
 */

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
  readonly probe: string;
  readonly endpoint: string;
  readonly error: string;
}

export type ObservationData = EnvoyCertsData | EnvoyStatsData | ProbeErrorData;

export interface Observation {
  /** What was observed: a workload id for Envoy probes. */
  readonly subject: string;
  /** The probe that produced it, e.g. "envoy.certs". Error observations use the failing probe's name. */
  readonly source: string;
  readonly observedAt: number;
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
    return `stats:rejected=${sum((x) => x.updateRejected)},failure=${sum((x) => x.updateFailure)},initTimeout=${sum((x) => x.initFetchTimeout)},` +
      `keyRotFailed=${sum((x) => x.keyRotationFailed)},verify=${ssl((x) => x.failVerifyError)},san=${ssl((x) => x.failVerifySan)},` +
      `notReady=${d.secretsNotReady},state=${d.serverState ?? '-'}`;
  }
  return `certs:${d.chain.map((c) => c.serialNumber).join(',')}|ca:${d.caCerts.map((c) => c.serialNumber).join(',')}`;
}
