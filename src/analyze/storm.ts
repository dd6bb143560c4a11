import { formatDuration, isoTime } from '../knowledge/svid-rotation.js';
import type { AnalysisInput } from './analysis-input.js';
import { heldFor, isFresh } from './detector.js';
import type { Finding } from './finding.js';

import { FLEET_SUBJECT } from '../knowledge/subject-ref.js';

/**
 * fleet_storm: something systemic is wrong, so remediating workloads one by one would only add
 * load: the SPIRE server has been unreachable for `agentDownForMs`, or more than `stormShare` of the
 * workloads (and at least `stormMinWorkloads`) show a symptom at once (directly or through the
 * agent or trust-domain incident that explains them). The child incidents stay open and point to
 * it (`affects`); plan holds every remediation while a storm is open. Causes: `server_unreachable`,
 * `widespread_failure`.
 */
export function stormFinding(findings: readonly Finding[], input: AnalysisInput): Finding | null {
  const cfg = input.config;
  const server = [...input.observations.values()].find(
    (o) => o.source === 'spire.server.bundle' && o.data.kind === 'probe.error' && isFresh(o, input),
  );
  const ids = new Set(input.workloads.map((w) => w.id));
  const affected = new Set<string>();
  for (const f of findings) {
    if (ids.has(f.subject)) affected.add(f.subject);
    for (const s of f.affects ?? []) if (ids.has(s)) affected.add(s);
  }
  const causes = findings.map((f) => `${f.type} ${f.subject}`).sort();
  if (server !== undefined && server.data.kind === 'probe.error' && heldFor(server, input.now) >= cfg.agentDownForMs) {
    return {
      type: 'fleet_storm',
      subject: FLEET_SUBJECT,
      observedAt: server.observedAt,
      evidence: [server],
      affects: causes,
      cause: 'server_unreachable',
      explanation:
        `The SPIRE server has been unreachable for ${formatDuration(heldFor(server, input.now))} (since ${isoTime(server.stateSince ?? server.observedAt)}): ` +
        `${server.data.error}. No agent can sync or rotate while it is down, so every remediation is held until it is back.`,
    };
  }
  const share = input.workloads.length === 0 ? 0 : affected.size / input.workloads.length;
  if (affected.size < cfg.stormMinWorkloads || share <= cfg.stormShare) return null;
  return {
    type: 'fleet_storm',
    subject: FLEET_SUBJECT,
    observedAt: Math.max(...findings.map((f) => f.observedAt)),
    evidence: findings.slice(0, 5).flatMap((f) => f.evidence.slice(0, 1)),
    affects: causes,
    cause: 'widespread_failure',
    explanation:
      `${affected.size} of ${input.workloads.length} workloads (${Math.round(share * 100)}%, limit ${Math.round(cfg.stormShare * 100)}%) show symptoms at once ` +
      `(${causes.length} incident(s): ${causes.slice(0, 8).join(', ')}${causes.length > 8 ? ', …' : ''}). That is systemic; remediations are held so the healer does not add load to a fleet in a storm.`,
  };
}
