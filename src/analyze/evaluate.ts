import type { AnalysisInput } from './analysis-input.js';
import type { Finding } from './finding.js';
import { correlate } from './correlate.js';
import { genericRecovery, isFresh, latest, latestEvidenceAt, type Detector } from './detector.js';
import { agentDisconnectedDetector } from './detectors/agent-disconnected.detector.js';
import { cloudRunRevisionNotReadyDetector } from './detectors/cloudrun-revision-not-ready.detector.js';
import { mtlsErrorsDetector } from './detectors/mtls-errors.detector.js';
import { rotationFailedDetector } from './detectors/rotation-failed.detector.js';
import { trustBundleDriftDetector } from './detectors/trust-bundle-drift.detector.js';
import { makeIncidentId, type Incident } from '../knowledge/model/incident.js';
import { formatDuration } from '../knowledge/svid-rotation.js';
import { agentNodeOf, agentSubject } from '../knowledge/subject-ref.js';
import { stormFinding } from './storm.js';
import { stepSymptom } from './symptom-lifecycle.machine.js';

/** The detectors run on every pass. One per file under detectors/. */
export const detectors: readonly Detector[] = [
  // An SVID past its rotation point at Envoy or at the agent.
  rotationFailedDetector,
  // An agent unreachable, out of sync with its server, or with an expired SVID.
  agentDisconnectedDetector,
  // CA sets that differ from the server's bundle after the rotation grace.
  trustBundleDriftDetector,
  // Listener without a certificate, TLS failures above the ratio.
  mtlsErrorsDetector,
  // Cloud Run service not ready.
  cloudRunRevisionNotReadyDetector,
];

/** What one analysis pass decided. Applying it is the caller's job. */
export interface AnalysisDecisions {
  readonly open: readonly Incident[];
  readonly refresh: readonly { readonly incident: Incident; readonly finding: Finding }[];
  /** Open incidents whose recovery began (since) or whose symptom came back inside the healthy delay (null). */
  readonly recovering: readonly { readonly incident: Incident; readonly since: number | null; readonly reason: string }[];
  readonly resolve: readonly { readonly incident: Incident; readonly reason: string }[];
}

/**
 * Pure: (knowledge, now) -> decisions.
 * - A finding with no open incident of the same (type, subject) opens one, unless that symptom
 *   already resolved flapMaxCycles times within flapWindowMs: then one `flapping` incident is
 *   opened (or kept) for the subject instead, and nothing reopens endlessly.
 * - Every opened incident carries its finding's diagnosed `cause` (flapping: `symptom_flapping`).
 * - A finding whose evidence is newer than the incident's refreshes its evidence and explanation
 *   (the refresh entry carries the finding, so its cause too); a finding on a recovering incident
 *   puts it back to open (same incident: hysteresis).
 * - An open incident with no finding recovers only on fresh evidence newer than its own (a probe
 *   error or a stale observation leaves it open: absence of evidence is not recovery), and
 *   resolves once that recovery has held for healthyForMs (symptom-lifecycle.machine.ts).
 * - A workload finding opens nothing while its node's agent has an open agent_disconnected
 *   incident (recovering included) or one resolved less than healthyForMs + the rotation grace
 *   ago: a restarted agent re-serves its workloads within that time, and the symptoms it leaves
 *   behind for a moment belong to it (correlate() folds them only while the agent's own finding
 *   lasts). Nor while the node's agent is monitored but its latest read is stale: the next read
 *   says whether the agent is the cause.
 */
export function evaluate(input: AnalysisInput): AnalysisDecisions {
  const correlated = correlate(
    detectors.flatMap((d) => d.detect(input)),
    input,
  );
  const storm = stormFinding(correlated, input);
  const findings = storm === null ? correlated : [...correlated, storm];
  const byKey = new Map(findings.map((f) => [`${f.type}|${f.subject}`, f]));
  const openByKey = new Map(input.openIncidents.map((i) => [`${i.type}|${i.subject}`, i]));
  const cfg = input.config;

  const open: Incident[] = [];
  const refresh: { incident: Incident; finding: Finding }[] = [];
  const recovering: { incident: Incident; since: number | null; reason: string }[] = [];
  const resolve: { incident: Incident; reason: string }[] = [];
  const settling = settlingAgentNodes(input);
  const nodeOf = new Map(input.workloads.map((w) => [w.id, w.node]));
  for (const [key, f] of byKey) {
    const existing = openByKey.get(key);
    if (existing === undefined) {
      const node = nodeOf.get(f.subject);
      if (node !== undefined && settling.has(node) && f.type !== 'cloudrun_revision_not_ready') continue;
      const flapping = flappingFinding(f, input);
      if (flapping === null) open.push(incidentOf(f, input.now));
      else if (!openByKey.has(`flapping|${flapping.subject}`)) open.push({ ...incidentOf(flapping, input.now), flappingType: f.type });
      else {
        const fl = openByKey.get(`flapping|${flapping.subject}`);
        if (fl !== undefined && f.observedAt > latestEvidenceAt(fl)) refresh.push({ incident: fl, finding: flapping });
      }
      continue;
    }
    if (f.observedAt > latestEvidenceAt(existing)) refresh.push({ incident: existing, finding: f });
    if ((existing.recoveringSince ?? null) !== null) {
      const step = stepSymptom(existing.recoveringSince ?? null, cfg.healthyForMs, { type: 'finding', at: input.now });
      recovering.push({
        incident: existing,
        since: step.recoveringSince,
        reason: `the symptom is back before ${formatDuration(cfg.healthyForMs)} of health: ${f.explanation}`,
      });
    }
  }

  for (const [key, incident] of openByKey) {
    if (byKey.has(key)) continue;
    if (incident.type === 'flapping') {
      if (input.now - latestEvidenceAt(incident) >= cfg.flapWindowMs)
        resolve.push({
          incident,
          reason: `${incident.subject} has not shown ${incident.flappingType ?? 'the symptom'} for ${formatDuration(cfg.flapWindowMs)}`,
        });
      continue;
    }
    const reason = recoveryReason(incident, input);
    if (reason === null) continue;
    const step = stepSymptom(incident.recoveringSince ?? null, cfg.healthyForMs, { type: 'recovery', at: input.now });
    if (step.state === 'resolved') {
      const held =
        incident.recoveringSince === null || incident.recoveringSince === undefined
          ? ''
          : ` (healthy for ${formatDuration(input.now - incident.recoveringSince)})`;
      resolve.push({ incident, reason: `${reason}${held}` });
    } else if ((incident.recoveringSince ?? null) === null) {
      recovering.push({
        incident,
        since: step.recoveringSince,
        reason: `recovering: ${reason.replace(/\.$/, '')}; resolves after ${formatDuration(cfg.healthyForMs)} of health`,
      });
    }
  }
  // Children opened during a storm point to it (the storm lists them in `affects`).
  const stormOpen = openByKey.get(`fleet_storm|fleet`)?.id ?? open.find((i) => i.type === 'fleet_storm')?.id;
  const withParent = stormOpen === undefined ? open : open.map((i) => (i.type === 'fleet_storm' ? i : { ...i, parent: stormOpen }));
  return { open: withParent, refresh, recovering, resolve };
}

/**
 * Nodes whose workload symptoms may be the agent's: its agent incident is open, or resolved too
 * recently for its workloads to have caught up, or the agent is monitored but its latest Debug
 * read is not fresh (analysis cannot tell yet whether the agent is the cause).
 */
function settlingAgentNodes(input: AnalysisInput): Set<string> {
  const settleMs = input.config.healthyForMs + input.config.rotation.graceMs;
  const agentIncidents = [
    ...input.openIncidents,
    ...(input.recentlyResolved ?? []).filter((i) => i.resolvedAt !== null && input.now - i.resolvedAt < settleMs),
  ].filter((i) => i.type === 'agent_disconnected');
  const nodes = new Set(agentIncidents.flatMap((i) => agentNodeOf(i.subject) ?? []));
  for (const node of new Set(input.workloads.map((w) => w.node))) {
    if (node === undefined) continue;
    const debug = latest(input, agentSubject(node), 'spire.agent.debug');
    if (debug !== undefined && !isFresh(debug, input)) nodes.add(node);
  }
  return nodes;
}

function incidentOf(f: Finding, now: number): Incident {
  return {
    id: makeIncidentId(f.type, f.subject, f.observedAt),
    type: f.type,
    subject: f.subject,
    status: 'open',
    openedAt: now,
    resolvedAt: null,
    explanation: f.explanation,
    evidence: f.evidence,
    history: [{ at: now, from: 'healthy', to: 'open', reason: f.explanation }],
    ...(f.affects === undefined ? {} : { affects: f.affects }),
    ...(f.cause === undefined ? {} : { cause: f.cause }),
  };
}

/** The flapping finding for `f` when its (type, subject) resolved flapMaxCycles times within the window; else null. */
function flappingFinding(f: Finding, input: AnalysisInput): Finding | null {
  const since = input.now - input.config.flapWindowMs;
  const cycles = (input.recentlyResolved ?? []).filter((i) => i.type === f.type && i.subject === f.subject && (i.resolvedAt ?? 0) >= since);
  if (cycles.length < input.config.flapMaxCycles) return null;
  return {
    type: 'flapping',
    subject: f.subject,
    observedAt: f.observedAt,
    evidence: f.evidence,
    cause: 'symptom_flapping',
    explanation:
      `${f.type.replace(/_/g, ' ')} on ${f.subject} came back after resolving ${cycles.length} times within ${formatDuration(input.config.flapWindowMs)} ` +
      `(opened ${cycles.map((i) => new Date(i.openedAt).toISOString()).join(', ')}). It is reported once as flapping instead of being reopened and remediated again: ` +
      `the cause is not the one the remediation fixes. Latest: ${f.explanation}`,
  };
}

/** Returns why the incident is over, or null when there is no fresh evidence of recovery yet. */
function recoveryReason(incident: Incident, input: AnalysisInput): string | null {
  const d = detectors.find((x) => x.type === incident.type);
  return d?.recovered !== undefined ? d.recovered(incident, input) : genericRecovery(incident, input);
}
