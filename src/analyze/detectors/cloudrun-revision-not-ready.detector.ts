import { formatDuration, isoTime } from '../../knowledge/svid-rotation.js';
import { heldFor, isFresh, type Detector } from '../detector.js';
import type { Finding } from '../finding.js';

/** cloudrun_revision_not_ready: a Cloud Run service has not been ready for `cloudRunNotReadyForMs`. */
export const cloudRunRevisionNotReadyDetector: Detector = {
  type: 'cloudrun_revision_not_ready',
  detect(input) {
    const findings: Finding[] = [];
    for (const o of input.observations.values()) {
      if (o.source !== 'cloudrun.service' || o.data.kind !== 'cloudrun.service' || o.data.ready || !isFresh(o, input)) continue;
      const held = heldFor(o, input.now);
      if (held < input.config.cloudRunNotReadyForMs) continue;
      const d = o.data;
      findings.push({
        type: 'cloudrun_revision_not_ready', subject: o.subject, observedAt: o.observedAt, evidence: [o], cause: 'revision_not_ready',
        explanation: `Cloud Run service ${d.service} has not been ready for ${formatDuration(held)} (since ${isoTime(o.stateSince ?? o.observedAt)}): ` +
          `${d.notReady.join('; ')}. Latest created revision ${d.latestCreatedRevision || 'none'}, latest ready ${d.latestReadyRevision || 'none'}.`,
      });
    }
    return findings;
  },
};
