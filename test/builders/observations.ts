import type { Observation, ServedCertificate } from '../../src/knowledge/model/observation.js';
import type { Workload } from '../../src/knowledge/model/workload.js';

/** A workload with sensible defaults; override any field. */
export function workload(id: string, over: Partial<Workload> = {}): Workload {
  return {
    id, spiffeId: `spiffe://example.org/ns/shop/sa/${id.split('/').pop() ?? id}`, trustDomain: 'example.org',
    platform: 'kubernetes', location: 'shop', envoyAdminUrl: `http://127.0.0.1:9901/envoy/${encodeURIComponent(id)}`, ...over,
  };
}

/** A served leaf issued at `validFromMs` living `ttlMs`. */
export function cert(serial: string, validFromMs: number, ttlMs: number): ServedCertificate {
  return { serialNumber: serial, uriSans: ['spiffe://example.org/ns/shop/sa/web'], validFromMs, expiresAtMs: validFromMs + ttlMs };
}

/** An envoy.certs observation of `subject` at `observedAt` serving `leaf`. */
export function certsObservation(subject: string, observedAt: number, leaf: ServedCertificate | null): Observation {
  return { subject, source: 'envoy.certs', observedAt, data: { kind: 'envoy.certs', chain: leaf === null ? [] : [leaf], caCerts: [] } };
}

/** A probe.error observation. */
export function errorObservation(subject: string, observedAt: number, error: string): Observation {
  return { subject, source: 'envoy.certs', observedAt, data: { kind: 'probe.error', probe: 'envoy.certs', endpoint: 'http://x/certs', error } };
}

/** Map keyed the way AnalysisInput expects. */
export function observationMap(...obs: Observation[]): Map<string, Observation> {
  return new Map(obs.map((o) => [`${o.subject}|${o.source}`, o]));
}
