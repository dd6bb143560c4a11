import type { AnalysisInput } from './analysis-input.js';
import type { Finding } from './finding.js';
import { detectEnvoySvidNotRotated } from './detectors/envoy-svid-not-rotated.detector.js';
import { makeIncidentId, type Incident } from '../knowledge/model/incident.js';

/** The detectors run on every pass, in order. One per file under detectors/. */
export const detectors: readonly ((input: AnalysisInput) => Finding[])[] = [
  // Envoy serves an SVID past its rotation point: SDS stuck or agent not rotating.
  detectEnvoySvidNotRotated,
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
  const findings = detectors.flatMap((d) => d(input));
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

function latestEvidenceAt(i: Incident): number {
  return i.evidence.reduce((m, o) => Math.max(m, o.observedAt), 0);
}

/** Returns why the incident is over, or null when there is no fresh evidence of recovery yet. */
function recoveryReason(incident: Incident, input: AnalysisInput): string | null {
  const workload = input.workloads.find((w) => w.id === incident.subject);
  if (workload === undefined) return `${incident.subject} is no longer in the inventory`;
  const obs = input.observations.get(`${incident.subject}|envoy.certs`);
  if (obs?.data.kind !== 'envoy.certs') return null;
  if (input.now - obs.observedAt > input.config.staleAfterMs) return null;
  if (obs.observedAt <= latestEvidenceAt(incident)) return null;
  const leaf = obs.data.chain[0];
  if (leaf === undefined) return null;
  const before = incident.evidence[0]?.data;
  const oldSerial = before?.kind === 'envoy.certs' ? before.chain[0]?.serialNumber : undefined;
  return `Envoy for ${incident.subject} now serves SVID serial ${leaf.serialNumber}` +
    (oldSerial !== undefined && oldSerial !== leaf.serialNumber ? ` (was ${oldSerial})` : '') +
    `, within its rotation window (observed ${new Date(obs.observedAt).toISOString()}).`;
}
