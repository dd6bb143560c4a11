import type { Finding } from '../finding.js';
import type { AnalysisInput } from '../analysis-input.js';
import { formatDuration, isoTime, rotationStatus } from '../../knowledge/svid-rotation.js';

/**
 * rotation_failed at Envoy: the SVID Envoy serves (GET /certs) is past its rotation point
 * (half its lifetime plus grace) on fresh evidence. Stale observations never raise a finding:
 * evidence older than `staleAfterMs` says nothing about now.
 */
export function detectEnvoySvidNotRotated(input: AnalysisInput): Finding[] {
  const findings: Finding[] = [];
  for (const w of input.workloads) {
    const obs = input.observations.get(`${w.id}|envoy.certs`);
    if (obs?.data.kind !== 'envoy.certs') continue;
    if (input.now - obs.observedAt > input.config.staleAfterMs) continue;
    const leaf = obs.data.chain[0];
    if (leaf === undefined) continue;
    const st = rotationStatus(leaf, obs.observedAt, input.config.rotation);
    if (!st.overdue) continue;
    const state = st.expired ? 'has EXPIRED' : `expires at ${isoTime(leaf.expiresAtMs)}`;
    findings.push({
      type: 'rotation_failed',
      subject: w.id,
      observedAt: obs.observedAt,
      evidence: [obs],
      explanation:
        `Envoy for ${w.id} (${w.spiffeId}) still serves SVID serial ${leaf.serialNumber}, issued ${isoTime(leaf.validFromMs)} ` +
        `with a ${formatDuration(st.ttlMs)} TTL. It should have rotated by ${isoTime(st.rotateByMs)} ` +
        `(${Math.round(input.config.rotation.rotateAtFraction * 100)}% of its lifetime plus ${formatDuration(input.config.rotation.graceMs)} grace), ` +
        `but ${envoyName(w.envoyAdminUrl)} still served it at ${isoTime(obs.observedAt)}; the certificate ${state}. ` +
        `Envoy's SDS stream to the SPIRE agent is likely stuck.`,
    });
  }
  return findings;
}

function envoyName(adminUrl: string): string {
  return `the Envoy at ${adminUrl}`;
}
