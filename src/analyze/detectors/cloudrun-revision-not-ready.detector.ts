import { formatDuration, isoTime } from '../../knowledge/svid-rotation.js';
import { heldFor, isFresh, type Detector } from '../detector.js';
import type { Finding } from '../finding.js';
import type { CloudRunServiceData } from '../../knowledge/model/observation.js';

/** How many times cloudRunNotReadyForMs a healthy rollout (a ready revision still serving) may take. */
export const ROLLOUT_ALLOWANCE = 5;

/** A rollout in progress whose terminal condition has not failed, while a ready revision serves: not an outage yet. */
function rollingOut(d: CloudRunServiceData): boolean {
  return (
    d.notReady.some((r) => r.startsWith('a rollout is in progress')) &&
    !d.notReady.some((r) => r.includes('CONDITION_FAILED')) &&
    d.latestReadyRevision !== ''
  );
}

/**
 * cloudrun_revision_not_ready: a Cloud Run service has not been ready for `cloudRunNotReadyForMs`;
 * a rollout in progress that has not failed, with a ready revision still serving (e.g. the new
 * revision spire-healer itself asked for), gets ROLLOUT_ALLOWANCE times as long.
 */
export const cloudRunRevisionNotReadyDetector: Detector = {
  type: 'cloudrun_revision_not_ready',
  detect(input) {
    const findings: Finding[] = [];
    for (const o of input.observations.values()) {
      if (o.source !== 'cloudrun.service' || o.data.kind !== 'cloudrun.service' || o.data.ready || !isFresh(o, input)) continue;
      const held = heldFor(o, input.now);
      if (held < input.config.cloudRunNotReadyForMs * (rollingOut(o.data) ? ROLLOUT_ALLOWANCE : 1)) continue;
      const d = o.data;
      findings.push({
        type: 'cloudrun_revision_not_ready',
        subject: o.subject,
        observedAt: o.observedAt,
        evidence: [o],
        cause: 'revision_not_ready',
        explanation:
          `Cloud Run service ${d.service} has not been ready for ${formatDuration(held)} (since ${isoTime(o.stateSince ?? o.observedAt)}): ` +
          `${d.notReady.join('; ')}. Latest created revision ${d.latestCreatedRevision || 'none'}, latest ready ${d.latestReadyRevision || 'none'}.`,
      });
    }
    return findings;
  },
};
