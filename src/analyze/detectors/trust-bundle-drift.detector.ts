import type { IncidentCause } from '../../knowledge/model/incident.js';
import type { Observation } from '../../knowledge/model/observation.js';
import { trustDomainOf, trustDomainSubject } from '../../knowledge/subject-ref.js';
import { formatDuration, isoTime } from '../../knowledge/svid-rotation.js';
import type { AnalysisInput } from '../analysis-input.js';
import { genericRecovery, heldFor, isFresh, latest, type Detector } from '../detector.js';
import type { Finding } from '../finding.js';

/** When this many Envoys (and at least half of those observed) drift, it is one trust-domain incident. */
const FLEET_DRIFT_MIN = 3;

// Serials are normalised where they were read (knowledge/serial-number.ts), so they compare as they are.
const setOf = (certs: readonly { readonly serialNumber: string }[]): Set<string> => new Set(certs.map((c) => c.serialNumber));
const list = (s: ReadonlySet<string>): string => [...s].sort().join(', ') || 'none';
const same = (a: ReadonlySet<string>, b: ReadonlySet<string>): boolean => a.size === b.size && [...a].every((x) => b.has(x));

/**
 * trust_bundle_drift: the CA certificates a consumer trusts differ from the SPIRE server's bundle,
 * once the server's bundle has been stable for `bundleDriftGraceMs` (a prepared CA, or the
 * propagation window after a rotation, is not drift). Consumers: the trust-bundle ConfigMap
 * (k8s.bundle), the Cloud Run CA-bundle secret (cloudrun.bundle), every agent's distributed bundle (spire.agent.bundle) and every
 * Envoy's validation
 * context (ca_cert in /certs). When most Envoys drift
 * at once, that is one incident on the trust domain that owns theirs. Causes, by consumer:
 * `configmap_bundle_stale`, `secret_bundle_stale`, `agent_bundle_stale`, `envoy_bundle_stale`, and the roll-up
 * `trust_domain_bundle_stale`.
 */
export const trustBundleDriftDetector: Detector = {
  type: 'trust_bundle_drift',
  detect(input) {
    const servers = [...input.observations.values()].filter(
      (o) => o.source === 'spire.server.bundle' && o.data.kind === 'spire.bundle' && isFresh(o, input),
    );
    const findings: Finding[] = [];
    for (const server of servers) {
      if (server.data.kind !== 'spire.bundle') continue;
      const stable = heldFor(server, input.now);
      if (stable < input.config.bundleDriftGraceMs) continue;
      const want = setOf(server.data.authorities);
      const td = server.data.trustDomain;
      const serverWords =
        `the SPIRE server's bundle for ${td} (sequence ${server.data.sequenceNumber}, unchanged for ${formatDuration(stable)} since ` +
        `${isoTime(server.stateSince ?? server.observedAt)}) holds ${list(want)}`;
      for (const o of input.observations.values()) {
        if (o.source !== 'k8s.bundle' || o.data.kind !== 'k8s.bundle' || !isFresh(o, input)) continue;
        const have = setOf(o.data.certificates);
        if (same(have, want)) continue;
        findings.push(
          drift(
            o,
            server,
            'configmap_bundle_stale',
            `ConfigMap ${o.data.configMap} holds CA serials ${list(have)}, but ${serverWords}. Workloads that read the ConfigMap will reject peers signed by a CA it lacks.`,
          ),
        );
      }
      for (const o of input.observations.values()) {
        if (o.source !== 'cloudrun.bundle' || o.data.kind !== 'cloudrun.bundle' || !isFresh(o, input)) continue;
        const have = setOf(o.data.certificates);
        if (same(have, want)) continue;
        findings.push(
          drift(
            o,
            server,
            'secret_bundle_stale',
            `Secret ${o.data.secret}${o.data.version === null ? ' (no readable version)' : ` version ${o.data.version}`} holds CA serials ${list(have)}, but ${serverWords}. ` +
              'Cloud Run services that mount it will reject peers signed by a CA it lacks once their instances read it.',
          ),
        );
      }
      for (const o of input.observations.values()) {
        if (o.source !== 'spire.agent.bundle' || o.data.kind !== 'spire.agent.bundle' || o.data.trustDomain !== td || !isFresh(o, input))
          continue;
        const have = setOf(o.data.certificates);
        if (same(have, want)) continue;
        findings.push(
          drift(
            o,
            server,
            'agent_bundle_stale',
            `The SPIRE agent on ${o.data.node} distributes CA serials ${list(have)}, but ${serverWords}. Every Envoy it serves gets the stale bundle.`,
          ),
        );
      }
      const envoys: Finding[] = [];
      let observed = 0;
      for (const w of input.workloads) {
        if (w.trustDomain !== td) continue;
        const o = latest(input, w.id, 'envoy.certs');
        if (!isFresh(o, input) || o.data.kind !== 'envoy.certs') continue;
        observed++;
        const have = setOf(o.data.caCerts);
        if (same(have, want)) continue;
        const stats = latest(input, w.id, 'envoy.stats');
        const failed = stats?.data.kind === 'envoy.stats' ? stats.data.ssl.reduce((n, x) => n + x.failVerifyError, 0) : 0;
        envoys.push(
          drift(
            o,
            server,
            'envoy_bundle_stale',
            `Envoy for ${w.id} validates peers with CA serials ${list(have)}, but ${serverWords}. Its validation context did not get the new bundle over SDS` +
              (failed > 0 ? `, and it has already failed ${failed} peer certificate verification(s).` : '.'),
          ),
        );
      }
      if (envoys.length >= FLEET_DRIFT_MIN && envoys.length * 2 >= observed) {
        findings.push({
          type: 'trust_bundle_drift',
          subject: trustDomainSubject(td),
          observedAt: server.observedAt,
          evidence: [server, ...envoys.slice(0, 5).flatMap((f) => f.evidence.slice(0, 1))],
          affects: envoys.map((f) => f.subject),
          cause: 'trust_domain_bundle_stale',
          explanation:
            `${envoys.length} of ${observed} Envoys in ${td} trust a different CA set than the server: ${serverWords}. ` +
            'The new bundle is not reaching the fleet (agents or SDS), so this is one trust-domain problem, not many workload problems.',
        });
      } else {
        findings.push(...envoys);
      }
    }
    return findings;
  },
  /** Over only when the drifting consumer(s) trust exactly the server's CA set again: a new grace window is not recovery. */
  recovered(incident, input) {
    const fleetWide = trustDomainOf(incident.subject);
    const td = fleetWide ?? input.workloads.find((w) => w.id === incident.subject)?.trustDomain;
    const server = [...input.observations.values()].find(
      (o) => o.source === 'spire.server.bundle' && o.data.kind === 'spire.bundle' && (td === undefined || o.data.trustDomain === td),
    );
    if (!isFresh(server, input) || server.data.kind !== 'spire.bundle') return null;
    const want = setOf(server.data.authorities);
    const subjects = fleetWide !== null ? (incident.affects ?? []) : [incident.subject];
    for (const subject of subjects) {
      const o =
        latest(input, subject, 'envoy.certs') ??
        latest(input, subject, 'k8s.bundle') ??
        latest(input, subject, 'spire.agent.bundle') ??
        latest(input, subject, 'cloudrun.bundle');
      if (!isFresh(o, input)) return null;
      const have =
        o.data.kind === 'envoy.certs'
          ? setOf(o.data.caCerts)
          : o.data.kind === 'k8s.bundle' || o.data.kind === 'spire.agent.bundle' || o.data.kind === 'cloudrun.bundle'
            ? setOf(o.data.certificates)
            : null;
      if (have === null || !same(have, want)) return null;
    }
    return genericRecovery(incident, input);
  },
};

function drift(target: Observation, server: Observation, cause: IncidentCause, explanation: string): Finding {
  return {
    type: 'trust_bundle_drift',
    subject: target.subject,
    observedAt: Math.max(target.observedAt, server.observedAt),
    evidence: [target, server],
    cause,
    explanation,
  };
}

/** True when the workload's Envoy trusts a CA set other than the server's current bundle (grace or not). */
export function validationContextLags(input: AnalysisInput, workloadId: string, trustDomain: string): boolean {
  const server = latest(input, trustDomainSubject(trustDomain), 'spire.server.bundle');
  const envoy = latest(input, workloadId, 'envoy.certs');
  if (!isFresh(server, input) || !isFresh(envoy, input) || server.data.kind !== 'spire.bundle' || envoy.data.kind !== 'envoy.certs')
    return false;
  return !same(setOf(envoy.data.caCerts), setOf(server.data.authorities));
}
