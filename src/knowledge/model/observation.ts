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

/** A probe failed: endpoint unreachable, non-2xx, malformed payload. Never silently dropped. */
export interface ProbeErrorData {
  readonly kind: 'probe.error';
  /** The probe that failed, e.g. "envoy.certs". */
  readonly probe: string;
  readonly endpoint: string;
  readonly error: string;
}

export type ObservationData = EnvoyCertsData | ProbeErrorData;

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
  return `certs:${d.chain.map((c) => c.serialNumber).join(',')}|ca:${d.caCerts.map((c) => c.serialNumber).join(',')}`;
}
