import { observationStateKey, type Observation } from '../knowledge/model/observation.js';

const iso = (ms: number): string => new Date(ms).toISOString();

/** One sentence for the audit log: what the monitor now sees, in an operator's words. */
export function describeObservation(o: Observation): string {
  const d = o.data;
  switch (d.kind) {
    case 'probe.error':
      return d.error.includes(d.endpoint) ? `${d.probe} failed: ${d.error}` : `${d.probe} at ${d.endpoint} could not be read: ${d.error}`;
    case 'envoy.stats':
      return `Envoy for ${o.subject} failure counters now ${observationStateKey(o).slice('stats:'.length)}`;
    case 'envoy.certs': {
      const leaf = d.chain[0];
      if (leaf === undefined) return `Envoy for ${o.subject} serves no certificate (empty cert_chain)`;
      return `Envoy for ${o.subject} serves SVID serial ${leaf.serialNumber} valid until ${iso(leaf.expiresAtMs)}`;
    }
    case 'spire.svid': {
      if (d.svid === null) return `SPIRE agent on ${d.node} no longer lists an SVID for ${o.subject}`;
      const lifetime = d.svid.expiresAtMs - d.svid.validFromMs;
      const used = lifetime > 0 ? Math.floor((100 * (o.observedAt - d.svid.validFromMs)) / lifetime) : 100;
      return `SPIRE agent on ${d.node} holds SVID serial ${d.svid.serialNumber} for ${o.subject}, valid until ${iso(d.svid.expiresAtMs)} (${used}% of its lifetime used)`;
    }
    case 'spire.agent': {
      const synced =
        d.lastSyncSuccessMs === 0
          ? 'never synced with its server'
          : `last synced with its server at ${iso(d.lastSyncSuccessMs)} (${Math.max(0, Math.floor((o.observedAt - d.lastSyncSuccessMs) / 1_000))} s ago)`;
      return `SPIRE agent on ${d.node} (${d.agentId}) ${synced}, its own SVID expires ${d.agentSvidExpiresAtMs === null ? 'at an unknown time' : `at ${iso(d.agentSvidExpiresAtMs)}`}`;
    }
    case 'spire.health':
      return d.healthy
        ? `SPIRE agent on ${d.node} reports ready`
        : `SPIRE agent on ${d.node} reports NOT ready (HTTP ${d.status}; ${d.failing.join(', ') || 'no subsystem named'})`;
    case 'spire.agent.bundle':
      return `SPIRE agent on ${d.node} distributes ${d.certificates.length} CA certificate(s) for ${d.trustDomain} (${d.certificates.map((c) => c.serialNumber).join(', ')})`;
    case 'spire.server.agent':
      return (
        `SPIRE server lists agent ${d.agentId} on ${d.node}: ${d.banned ? 'BANNED' : 'not banned'}, ${d.canReattest ? 'can re-attest' : 'cannot re-attest'}, ` +
        `agent SVID expires ${iso(d.svidExpiresAtMs)}`
      );
    case 'spire.bundle':
      return (
        `SPIRE server bundle for ${d.trustDomain} is at sequence ${d.sequenceNumber} with ${d.authorities.length} X.509 authorities ` +
        `(active ${d.active ?? 'none'}, prepared ${d.prepared ?? 'none'})`
      );
    case 'k8s.bundle':
      return (
        `ConfigMap ${d.configMap} holds ${d.certificates.length} CA certificates (${d.certificates.map((c) => c.serialNumber).join(', ')})` +
        (d.problems.length > 0 ? `; problems: ${d.problems.join('; ')}` : '')
      );
    case 'cloudrun.bundle':
      return (
        `Secret ${d.secret}${d.version === null ? '' : ` version ${d.version}`} holds ${d.certificates.length} CA certificates (${d.certificates.map((c) => c.serialNumber).join(', ')})` +
        (d.problems.length > 0 ? `; problems: ${d.problems.join('; ')}` : '')
      );
    case 'cloudrun.service':
      return d.ready
        ? `Cloud Run service ${d.service} is ready on ${d.latestReadyRevision}`
        : `Cloud Run service ${d.service} is not ready: ${d.notReady.join('; ')}`;
  }
}
