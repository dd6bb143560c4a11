import type { IncidentCause, IncidentType } from '../knowledge/model/incident.js';
import type { Observation } from '../knowledge/model/observation.js';

/** A detector's statement that a symptom is present on a subject, with evidence and words. */
export interface Finding {
  readonly type: IncidentType;
  readonly subject: string;
  readonly observedAt: number;
  readonly evidence: readonly Observation[];
  readonly explanation: string;
  /**
   * What the detector diagnosed as broken (the path that fired), so plan can pick the first step.
   * Every detector path sets it; correlation keeps the owner's cause when it folds symptoms in.
   */
  readonly cause?: IncidentCause;
  /** Subjects whose symptoms this finding explains (filled by correlation). */
  readonly affects?: readonly string[];
}
