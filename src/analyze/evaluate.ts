import type { AnalysisInput } from './analysis-input.js';
import type { Finding } from './finding.js';
import { correlate } from './correlate.js';
import { genericRecovery, latestEvidenceAt, type Detector } from './detector.js';
import { agentDisconnectedDetector } from './detectors/agent-disconnected.detector.js';
import { cloudRunRevisionNotReadyDetector } from './detectors/cloudrun-revision-not-ready.detector.js';
import { mtlsErrorsDetector } from './detectors/mtls-errors.detector.js';
import { rotationFailedDetector } from './detectors/rotation-failed.detector.js';
import { trustBundleDriftDetector } from './detectors/trust-bundle-drift.detector.js';
import { makeIncidentId, type Incident } from '../knowledge/model/incident.js';

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
  readonly resolve: readonly { readonly incident: Incident; readonly reason: string }[];
}

/**
 * Pure: (knowledge, now) -> decisions.
 * - A finding with no open incident of the same (type, subject) opens one.
 * - A finding whose evidence is newer than the incident's refreshes its evidence and explanation.
 * - An open incident with no finding resolves only on fresh evidence newer than the incident's own:
 *   a probe error or a stale observation leaves it open (absence of evidence is not recovery).
 */
export function evaluate(input: AnalysisInput): AnalysisDecisions {
  const findings = correlate(detectors.flatMap((d) => d.detect(input)), input);
  const byKey = new Map(findings.map((f) => [`${f.type}|${f.subject}`, f]));
  const openByKey = new Map(input.openIncidents.map((i) => [`${i.type}|${i.subject}`, i]));

  const open: Incident[] = [];
  const refresh: { incident: Incident; finding: Finding }[] = [];
  for (const [key, f] of byKey) {
    const existing = openByKey.get(key);
    if (existing === undefined) {
      open.push({
        id: makeIncidentId(f.type, f.subject, f.observedAt),
        type: f.type,
        subject: f.subject,
        status: 'open',
        openedAt: input.now,
        resolvedAt: null,
        explanation: f.explanation,
        evidence: f.evidence,
        history: [{ at: input.now, from: 'healthy', to: 'open', reason: f.explanation }],
        ...(f.affects === undefined ? {} : { affects: f.affects }),
      });
    } else if (f.observedAt > latestEvidenceAt(existing)) {
      refresh.push({ incident: existing, finding: f });
    }
  }

  const resolve: { incident: Incident; reason: string }[] = [];
  for (const [key, incident] of openByKey) {
    if (byKey.has(key)) continue;
    const reason = recoveryReason(incident, input);
    if (reason !== null) resolve.push({ incident, reason });
  }
  return { open, refresh, resolve };
}

/** Returns why the incident is over, or null when there is no fresh evidence of recovery yet. */
function recoveryReason(incident: Incident, input: AnalysisInput): string | null {
  const d = detectors.find((x) => x.type === incident.type);
  return d?.recovered !== undefined ? d.recovered(incident, input) : genericRecovery(incident, input);
}
