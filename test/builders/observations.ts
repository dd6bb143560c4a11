import type { Observation, ServedCertificate } from '../../src/knowledge/model/observation.js';
import type { Workload } from '../../src/knowledge/model/workload.js';

/** A workload with sensible defaults; override any field. */
export function workload(id: string, over: Partial<Workload> = {}): Workload {
  return {
    id,
    spiffeId: `spiffe://example.org/ns/shop/sa/${id.split('/').pop() ?? id}`,
    trustDomain: 'example.org',
    platform: 'kubernetes',
    location: 'shop',
    envoyAdminUrl: `http://127.0.0.1:9901/envoy/${encodeURIComponent(id)}`,
    ...over,
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
  return {
    subject,
    source: 'envoy.certs',
    observedAt,
    data: { kind: 'probe.error', probe: 'envoy.certs', endpoint: 'http://x/certs', error },
  };
}

/** Map keyed the way AnalysisInput expects. */
export function observationMap(...obs: Observation[]): Map<string, Observation> {
  return new Map(obs.map((o) => [`${o.subject}|${o.source}`, o]));
}

// Builders for every source the detectors read. Each takes the observation time (`at`) and, where
// "for how long" matters, `since` (the store's stateSince: when the observed state began).

const bundleCerts = (serials: readonly string[]): { serialNumber: string; expiresAtMs: number }[] =>
  serials.map((s) => ({ serialNumber: s, expiresAtMs: 4_102_444_800_000 }));

/** envoy.certs serving `leaf` (null: an empty cert_chain) and validating peers with CA `caSerials`. */
export function envoyCertsObservation(
  subject: string,
  at: number,
  leaf: ServedCertificate | null,
  caSerials: readonly string[] = [],
): Observation {
  return {
    subject,
    source: 'envoy.certs',
    observedAt: at,
    data: {
      kind: 'envoy.certs',
      chain: leaf === null ? [] : [leaf],
      caCerts: caSerials.map((s) => ({ serialNumber: s, uriSans: [], validFromMs: 0, expiresAtMs: 4_102_444_800_000 })),
    },
  };
}

/** envoy.stats with one listener's TLS counters and one SDS secret's counters; zero unless given. */
export function envoyStatsObservation(
  subject: string,
  at: number,
  since: number,
  c: {
    handshake?: number;
    connectionError?: number;
    failVerifyError?: number;
    secretsNotReady?: number;
    updateRejected?: number;
    updateFailure?: number;
    keyRotationFailed?: number;
  } = {},
): Observation {
  return {
    subject,
    source: 'envoy.stats',
    observedAt: at,
    stateSince: since,
    data: {
      kind: 'envoy.stats',
      secretsNotReady: c.secretsNotReady ?? 0,
      serverState: 0,
      ssl: [
        {
          scope: 'listener.0.0.0.0_15001',
          handshake: c.handshake ?? 0,
          connectionError: c.connectionError ?? 0,
          failVerifyError: c.failVerifyError ?? 0,
          failVerifySan: 0,
          noCertificate: 0,
        },
      ],
      sds: [
        {
          secret: `spiffe_//example.org/ns/shop/sa/${subject.split('/').pop() ?? subject}`,
          updateSuccess: 1,
          updateRejected: c.updateRejected ?? 0,
          updateFailure: c.updateFailure ?? 0,
          initFetchTimeout: 0,
          keyRotationFailed: c.keyRotationFailed ?? 0,
          updateTimeMs: at,
        },
      ],
    },
  };
}

/** spire.delegated.svid: the SVID the agent on `node` holds for workload `subject`. */
export function delegatedSvidObservation(
  subject: string,
  at: number,
  node: string,
  svid: ServedCertificate | null,
  subscribedAtMs?: number,
): Observation {
  return {
    subject,
    source: 'spire.delegated.svid',
    observedAt: at,
    data: { kind: 'spire.svid', node, svid, ...(subscribedAtMs === undefined ? {} : { subscribedAtMs }) },
  };
}

/** spire.agent.debug (Debug GetInfo) of the agent on `node`. */
export function agentDebugObservation(
  node: string,
  at: number,
  o: { lastSyncMs: number; svidExpiresAtMs?: number | null; since?: number },
): Observation {
  return {
    subject: `agent:${node}`,
    source: 'spire.agent.debug',
    observedAt: at,
    stateSince: o.since ?? at,
    data: {
      kind: 'spire.agent',
      node,
      agentId: `spiffe://example.org/spire/agent/${node}`,
      lastSyncSuccessMs: o.lastSyncMs,
      agentSvidExpiresAtMs: o.svidExpiresAtMs === undefined ? at + 3_600_000 : o.svidExpiresAtMs,
      cachedX509Svids: 3,
    },
  };
}

/** spire.agent.debug failing: the agent's admin socket unreachable since `since`. */
export function agentUnreachableObservation(node: string, at: number, since: number): Observation {
  return {
    subject: `agent:${node}`,
    source: 'spire.agent.debug',
    observedAt: at,
    stateSince: since,
    data: {
      kind: 'probe.error',
      probe: 'spire.agent.debug',
      endpoint: `unix:///run/spire/${node}/admin.sock`,
      error: 'Debug/GetInfo: UNAVAILABLE: connect ECONNREFUSED',
    },
  };
}

/** spire.agent.health (/ready) of the agent on `node`, in this state since `since`. */
export function agentHealthObservation(node: string, at: number, since: number, healthy: boolean): Observation {
  return {
    subject: `agent:${node}`,
    source: 'spire.agent.health',
    observedAt: at,
    stateSince: since,
    data: { kind: 'spire.health', node, healthy, status: healthy ? 200 : 500, failing: healthy ? [] : ['agent'] },
  };
}

/** spire.server.agent (ListAgents) entry of the agent on `node`. */
export function serverAgentObservation(
  node: string,
  at: number,
  o: { banned?: boolean; canReattest?: boolean; svidExpiresAtMs: number },
): Observation {
  return {
    subject: `agent:${node}`,
    source: 'spire.server.agent',
    observedAt: at,
    data: {
      kind: 'spire.server.agent',
      node,
      agentId: `spiffe://example.org/spire/agent/${node}`,
      banned: o.banned ?? false,
      canReattest: o.canReattest ?? true,
      svidExpiresAtMs: o.svidExpiresAtMs,
    },
  };
}

/** spire.agent.bundle: the CA serials the agent on `node` distributes for example.org. */
export function agentBundleObservation(node: string, at: number, serials: readonly string[]): Observation {
  return {
    subject: `agent:${node}`,
    source: 'spire.agent.bundle',
    observedAt: at,
    data: { kind: 'spire.agent.bundle', node, trustDomain: 'example.org', certificates: bundleCerts(serials) },
  };
}

/** spire.server.bundle of example.org holding `serials`, unchanged since `since`. */
export function serverBundleObservation(at: number, since: number, serials: readonly string[]): Observation {
  return {
    subject: 'trust-domain:example.org',
    source: 'spire.server.bundle',
    observedAt: at,
    stateSince: since,
    data: {
      kind: 'spire.bundle',
      trustDomain: 'example.org',
      sequenceNumber: String(serials.length),
      authorities: bundleCerts(serials),
      active: 'a',
      prepared: null,
      old: null,
    },
  };
}

/** spire.server.bundle failing: the SPIRE server unreachable since `since`. */
export function serverUnreachableObservation(at: number, since: number): Observation {
  return {
    subject: 'trust-domain:example.org',
    source: 'spire.server.bundle',
    observedAt: at,
    stateSince: since,
    data: {
      kind: 'probe.error',
      probe: 'spire.server.bundle',
      endpoint: 'tcp://spire-server:8081',
      error: 'Bundle/GetBundle: UNAVAILABLE',
    },
  };
}

/** k8s.bundle: the trust-bundle ConfigMap spire/spire-bundle holding `serials`. */
export function configMapBundleObservation(at: number, serials: readonly string[]): Observation {
  return {
    subject: 'configmap:spire/spire-bundle',
    source: 'k8s.bundle',
    observedAt: at,
    data: { kind: 'k8s.bundle', configMap: 'spire/spire-bundle', certificates: bundleCerts(serials), problems: [] },
  };
}

/** cloudrun.bundle on the Cloud Run CA-bundle secret projects/acme/secrets/spire-bundle (latest version `version`). */
export function secretBundleObservation(at: number, serials: readonly string[], version = '1'): Observation {
  const secret = 'projects/acme/secrets/spire-bundle';
  return {
    subject: `secret:${secret}`,
    source: 'cloudrun.bundle',
    observedAt: at,
    data: { kind: 'cloudrun.bundle', secret, version, certificates: bundleCerts(serials), problems: [] },
  };
}

/** cloudrun.service `subject` (<project>/<region>/<service>), in this readiness since `since`. */
export function cloudRunServiceObservation(subject: string, at: number, since: number, ready: boolean): Observation {
  return {
    subject,
    source: 'cloudrun.service',
    observedAt: at,
    stateSince: since,
    data: {
      kind: 'cloudrun.service',
      service: `projects/p/locations/l/services/${subject.split('/').pop() ?? subject}`,
      ready,
      latestCreatedRevision: 'r2',
      latestReadyRevision: 'r1',
      notReady: ready ? [] : ['Ready is CONDITION_FAILED: container failed to start'],
    },
  };
}
