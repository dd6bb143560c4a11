import type { Incident, IncidentType } from '../knowledge/model/incident.js';
import { observationKey, type Observation, type ObservationSource } from '../knowledge/model/observation.js';
import type { AnalysisInput } from './analysis-input.js';
import type { Finding } from './finding.js';

/** One detector: a pure function of knowledge and `now`, one per file under detectors/. */
export interface Detector {
  readonly type: IncidentType;
  detect(input: AnalysisInput): Finding[];
  /**
   * Why an open incident of this type is over when the detector no longer finds it, or null when
   * there is no fresh evidence of recovery yet. Absent: `genericRecovery`.
   */
  recovered?(incident: Incident, input: AnalysisInput): string | null;
}

/** The latest observation of (subject, source), or undefined. */
export function latest(input: AnalysisInput, subject: string, source: ObservationSource): Observation | undefined {
  return input.observations.get(observationKey(subject, source));
}

/** True when the observation is recent enough to say something about now. */
export function isFresh(o: Observation | undefined, input: AnalysisInput): o is Observation {
  return o !== undefined && input.now - o.observedAt <= input.config.staleAfterMs;
}

/** How long the observed state has held at `now` (stateSince is kept by the store). */
export function heldFor(o: Observation, now: number): number {
  return now - (o.stateSince ?? o.observedAt);
}

/** Newest evidence time of an incident. */
export function latestEvidenceAt(i: Incident): number {
  return i.evidence.reduce((m, o) => Math.max(m, o.observedAt), 0);
}

/**
 * Default recovery: every (subject, source) of the incident's evidence has a fresh observation,
 * newer than the evidence, that is not a probe error. A missing, stale or failing read is not
 * recovery: absence of evidence never resolves an incident.
 */
export function genericRecovery(incident: Incident, input: AnalysisInput): string | null {
  const since = latestEvidenceAt(incident);
  const keys = [...new Set(incident.evidence.map((o) => observationKey(o.subject, o.source)))];
  const now = keys.map((k) => input.observations.get(k));
  if (now.length === 0 || !now.every((o) => isFresh(o, input) && o.observedAt > since && o.data.kind !== 'probe.error')) return null;
  const seen = now.flatMap((o) => (o === undefined ? [] : [`${o.source} on ${o.subject} at ${new Date(o.observedAt).toISOString()}`]));
  return `${incident.type.replace(/_/g, ' ')} on ${incident.subject} is over: fresh observations (${seen.join(', ')}) no longer show it.`;
}
