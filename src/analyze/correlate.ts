import { agentNodeOf, subjectKindOf } from '../knowledge/subject-ref.js';
import type { AnalysisInput } from './analysis-input.js';
import type { Finding } from './finding.js';

/**
 * Folds symptoms into their root cause, so one broken thing is one incident:
 * - a workload's findings (rotation, mTLS, drift) on a node whose agent is disconnected belong to
 *   the agent incident; its drift and mTLS findings belong to its agent's bundle drift;
 * - a workload's mTLS errors while its own trust bundle drifted belong to the drift incident;
 * - workload findings already owned by a fleet-level finding (its `affects`) are dropped.
 * The owner lists what it absorbed in `affects` and keeps its own diagnosed `cause`: the absorbed
 * symptoms' causes (a stuck SDS stream behind a dead agent) are consequences, not what to fix first.
 * Pure and independent of finding order.
 */
export function correlate(findings: readonly Finding[], input: AnalysisInput): Finding[] {
  const nodeOf = new Map(input.workloads.map((w) => [w.id, w.node]));
  const agentByNode = new Map<string, Finding>();
  const agentDriftByNode = new Map<string, Finding>();
  for (const f of findings) {
    const node = agentNodeOf(f.subject);
    if (node !== null && f.type === 'agent_disconnected') agentByNode.set(node, f);
    if (node !== null && f.type === 'trust_bundle_drift') agentDriftByNode.set(node, f);
  }
  const ownedByFleet = new Set(findings.flatMap((f) => (subjectKindOf(f.subject) === 'trust-domain' ? (f.affects ?? []) : [])));
  const driftOn = new Set(findings.filter((f) => f.type === 'trust_bundle_drift').map((f) => f.subject));
  const absorbed = new Map<Finding, string[]>();
  const owner = (f: Finding): Finding | 'fleet' | null => {
    if (f.type === 'agent_disconnected' || subjectKindOf(f.subject) !== 'workload') return null;
    const node = nodeOf.get(f.subject);
    const agent = node === undefined ? undefined : agentByNode.get(node);
    if (agent !== undefined && f.type !== 'cloudrun_revision_not_ready') return agent;
    const agentDrift = node === undefined ? undefined : agentDriftByNode.get(node);
    if (agentDrift !== undefined && (f.type === 'trust_bundle_drift' || f.type === 'mtls_errors')) return agentDrift;
    if (ownedByFleet.has(f.subject) && f.type === 'trust_bundle_drift') return 'fleet';
    if (f.type === 'mtls_errors' && (driftOn.has(f.subject) || ownedByFleet.has(f.subject))) {
      return (
        findings.find((d) => d.type === 'trust_bundle_drift' && (d.subject === f.subject || (d.affects ?? []).includes(f.subject))) ?? null
      );
    }
    return null;
  };
  const kept: Finding[] = [];
  for (const f of findings) {
    const o = owner(f);
    if (o === null) kept.push(f);
    else if (o !== 'fleet') absorbed.set(o, [...(absorbed.get(o) ?? []), `${f.subject} (${f.type.replace(/_/g, ' ')})`]);
  }
  return kept.map((f) => {
    const extra = absorbed.get(f);
    if (extra === undefined) return f;
    const subjects = [...new Set([...(f.affects ?? []), ...extra.map((e) => e.slice(0, e.indexOf(' (')))])].sort();
    // The spread keeps the owner's cause.
    return {
      ...f,
      affects: subjects,
      explanation: `${f.explanation} It explains ${extra.length} other symptom(s): ${[...extra].sort().join(', ')}.`,
    };
  });
}
