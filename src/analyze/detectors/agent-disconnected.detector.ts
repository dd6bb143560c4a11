import type { IncidentCause } from '../../knowledge/model/incident.js';
import { agentNodeOf, agentSubject } from '../../knowledge/subject-ref.js';
import { formatDuration, isoTime } from '../../knowledge/svid-rotation.js';
import { heldFor, isFresh, latest, type Detector } from '../detector.js';
import type { AnalysisInput } from '../analysis-input.js';
import type { Finding } from '../finding.js';

/**
 * Without a Debug reading of the agent (no admin socket configured or discovered), the Envoys tell:
 * when at least two of them on the node (or its only one) see their SDS fetches to the agent fail
 * and keep failing (update_failure rose within mtlsWindowMs), the agent's SDS server is gone.
 */
function sdsFailuresOn(node: string, input: AnalysisInput): Finding | null {
  const onNode = input.workloads.filter((w) => w.node === node);
  const failing = onNode.flatMap((w) => {
    const st = latest(input, w.id, 'envoy.stats');
    if (!isFresh(st, input) || st.data.kind !== 'envoy.stats' || heldFor(st, input.now) > input.config.mtlsWindowMs) return [];
    const failures = st.data.sds.reduce((n, x) => n + x.updateFailure, 0);
    return failures > 0 ? [{ id: w.id, failures, obs: st }] : [];
  });
  if (failing.length === 0 || failing.length < Math.min(2, onNode.length)) return null;
  return {
    type: 'agent_disconnected',
    subject: agentSubject(node),
    observedAt: Math.max(...failing.map((f) => f.obs.observedAt)),
    evidence: failing.slice(0, 5).map((f) => f.obs),
    cause: 'agent_sds_failing',
    explanation:
      `${failing.length} of ${onNode.length} Envoys on ${node} keep failing to fetch their secrets from the SPIRE agent over SDS ` +
      `(update_failure: ${failing
        .slice(0, 5)
        .map((f) => `${f.id} ${f.failures}`)
        .join(
          ', ',
        )}${failing.length > 5 ? ', …' : ''}): their SDS connection to the agent drops, so the agent on ${node} is down or unreachable.`,
  };
}

/** Every node the fleet model or the agent observations know. */
export function knownNodes(input: AnalysisInput): string[] {
  const nodes = new Set<string>();
  for (const w of input.workloads) if (w.node !== undefined) nodes.add(w.node);
  for (const o of input.observations.values()) {
    const node = o.source === 'spire.agent.debug' ? agentNodeOf(o.subject) : null;
    if (node !== null) nodes.add(node);
  }
  return [...nodes].sort();
}

/**
 * agent_disconnected on "agent:<node>": the agent's admin socket has been unreachable for
 * `agentDownForMs` (one failed poll is not enough), or its last successful sync with the server is
 * older than `agentSyncStaleMs` (it lost its server; its health may still be green), or its own SVID
 * has expired; or the server has banned it / will not let it re-attest; or its /ready has failed for
 * `agentDownForMs`; or, without a Debug reading, its Envoys' SDS fetches keep failing. Each path sets
 * its cause (agent_cannot_reattest, agent_not_ready, agent_sds_failing, agent_unreachable,
 * agent_svid_expired, agent_sync_stale). Every workload on that node depends on it (correlation folds
 * their symptoms in).
 */
export const agentDisconnectedDetector: Detector = {
  type: 'agent_disconnected',
  detect(input) {
    const findings: Finding[] = [];
    for (const node of knownNodes(input)) {
      const server = latest(input, agentSubject(node), 'spire.server.agent');
      if (isFresh(server, input) && server.data.kind === 'spire.server.agent') {
        const a = server.data;
        const expired = a.svidExpiresAtMs <= server.observedAt;
        if (a.banned || (expired && !a.canReattest)) {
          findings.push({
            type: 'agent_disconnected',
            subject: agentSubject(node),
            observedAt: server.observedAt,
            evidence: [server],
            cause: 'agent_cannot_reattest',
            explanation:
              `The SPIRE server ${a.banned ? 'has BANNED' : 'will not let re-attest'} the agent on ${node} (${a.agentId})` +
              (expired ? `; its SVID expired ${isoTime(a.svidExpiresAtMs)}` : '') +
              '. It cannot get SVIDs for any workload on the node until an operator acts.',
          });
          continue;
        }
      }
      const ready = latest(input, agentSubject(node), 'spire.agent.health');
      if (
        isFresh(ready, input) &&
        ready.data.kind === 'spire.health' &&
        !ready.data.healthy &&
        heldFor(ready, input.now) >= input.config.agentDownForMs
      ) {
        findings.push({
          type: 'agent_disconnected',
          subject: agentSubject(node),
          observedAt: ready.observedAt,
          evidence: [ready],
          cause: 'agent_not_ready',
          explanation:
            `The SPIRE agent on ${node} has reported NOT ready for ${formatDuration(heldFor(ready, input.now))} (HTTP ${ready.data.status}; ` +
            `failing: ${ready.data.failing.join(', ') || 'unnamed'}). ${input.workloads.filter((w) => w.node === node).length} workload(s) on ${node} depend on it.`,
        });
        continue;
      }
      const o = latest(input, agentSubject(node), 'spire.agent.debug');
      if (!isFresh(o, input)) {
        const sds = sdsFailuresOn(node, input);
        if (sds !== null) findings.push(sds);
        continue;
      }
      const d = o.data;
      let diagnosis: { readonly why: string; readonly cause: IncidentCause } | null = null;
      if (d.kind === 'probe.error') {
        const down = heldFor(o, input.now);
        if (down >= input.config.agentDownForMs) {
          diagnosis = {
            cause: 'agent_unreachable',
            why: `has been unreachable for ${formatDuration(down)} (since ${isoTime(o.stateSince ?? o.observedAt)}): ${d.error}`,
          };
        }
      } else if (d.kind === 'spire.agent') {
        const age = o.observedAt - d.lastSyncSuccessMs;
        if (d.agentSvidExpiresAtMs !== null && d.agentSvidExpiresAtMs <= o.observedAt) {
          diagnosis = {
            cause: 'agent_svid_expired',
            why: `holds an expired agent SVID (expired ${isoTime(d.agentSvidExpiresAtMs)}); it cannot talk to its server until it re-attests`,
          };
        } else if (d.lastSyncSuccessMs === 0 || age > input.config.agentSyncStaleMs) {
          diagnosis = {
            cause: 'agent_sync_stale',
            why:
              d.lastSyncSuccessMs === 0
                ? 'has never synced with its server'
                : `last synced with its server at ${isoTime(d.lastSyncSuccessMs)}, ${formatDuration(age)} before ${isoTime(o.observedAt)} ` +
                  `(limit ${formatDuration(input.config.agentSyncStaleMs)}): it has lost its server, so no SVID it serves can rotate`,
          };
        }
      }
      if (diagnosis === null) continue;
      const onNode = input.workloads.filter((w) => w.node === node).length;
      findings.push({
        type: 'agent_disconnected',
        subject: agentSubject(node),
        observedAt: o.observedAt,
        evidence: [o],
        cause: diagnosis.cause,
        explanation: `The SPIRE agent on ${node} ${diagnosis.why}. ${onNode} workload(s) on ${node} depend on it.`,
      });
    }
    return findings;
  },
};
