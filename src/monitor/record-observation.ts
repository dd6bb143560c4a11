import type { AuditLog } from '../knowledge/audit.js';
import type { KnowledgeStore } from '../knowledge/knowledge-store.js';
import { errorMessage } from '../knowledge/error-text.js';
import { observationStateKey, type Observation, type ObservationSource } from '../knowledge/model/observation.js';
import { describeObservation } from './describe-observation.js';

/** Where observations go: knowledge (latest per subject and source), the audit log, metrics. */
export interface ObservationSink {
  readonly store: KnowledgeStore;
  readonly audit: AuditLog;
  readonly onObservation?: (o: Observation, changed: boolean) => void;
}

/**
 * Records an observation as the latest for its (subject, source); audits it when its state
 * differs from the previous one, so a steady fleet stays quiet. Returns whether it changed.
 */
export async function recordObservation(sink: ObservationSink, obs: Observation): Promise<boolean> {
  const res = await sink.store.recordObservation(obs);
  sink.onObservation?.(obs, res.changed);
  if (!res.changed) return false;
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
