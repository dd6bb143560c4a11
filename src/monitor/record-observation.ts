import type { AuditLog } from '../knowledge/audit.js';
import type { KnowledgeStore } from '../knowledge/knowledge-store.js';
import { errorMessage } from '../knowledge/error-text.js';
import { observationStateKey, type Observation, type ObservationSource } from '../knowledge/model/observation.js';
import { isNews, rotationMissed } from '../knowledge/observation-news.js';
import type { RotationPolicy } from '../knowledge/svid-rotation.js';
import { describeObservation } from './describe-observation.js';

/** Where observations go: knowledge (latest per subject and source), the audit log, metrics. */
export interface ObservationSink {
  readonly store: KnowledgeStore;
  readonly audit: AuditLog;
  /** `audited`: whether the change was news and went to the audit log (false when unchanged). */
  readonly onObservation?: (o: Observation, changed: boolean, audited: boolean) => void;
  /**
   * The rotation policy analysis judges SVIDs by. With it, a healthy rotation (inside its window) is
   * recorded but not audited (`isNews`); without it, every change of state is audited.
   */
  readonly rotation?: RotationPolicy;
}

/**
 * Records an observation as the latest for its (subject, source); audits it when its state differs
 * from the previous one and the change is news (a healthy rotation is not), or when its state is
 * unchanged but its SVID just became overdue (a rotation missed), so a steady fleet stays quiet.
 * Returns whether its state changed or a rotation was missed (analysis is nudged on every change, news or not).
 */
export async function recordObservation(sink: ObservationSink, obs: Observation): Promise<boolean> {
  const res = await sink.store.recordObservation(obs);
  const audited =
    sink.rotation === undefined
      ? res.changed
      : res.changed
        ? isNews(res.previous, obs, sink.rotation)
        : rotationMissed(res.previous, obs, sink.rotation);
  sink.onObservation?.(obs, res.changed, audited);
  if (!audited) return res.changed;
  await sink.audit.append({
    type: obs.data.kind === 'probe.error' ? 'observation.failed' : 'observation.changed',
    at: obs.observedAt,
    subject: obs.subject,
    message: describeObservation(obs),
    data: { source: obs.source, state: observationStateKey(obs), previous: res.previous ? observationStateKey(res.previous) : null },
  });
  return true;
}

/** A failed read as an observation: the source, what was unreachable or malformed, and why. */
export function probeError(subject: string, source: ObservationSource, endpoint: string, error: unknown, at: number): Observation {
  return {
    subject,
    source,
    observedAt: at,
    data: { kind: 'probe.error', probe: source, endpoint, error: errorMessage(error) },
  };
}
