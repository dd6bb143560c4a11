import type { Incident } from '../knowledge/model/incident.js';
import type { Observation } from '../knowledge/model/observation.js';
import type { Workload } from '../knowledge/model/workload.js';
import type { RotationPolicy } from '../knowledge/svid-rotation.js';

/** Thresholds for analysis, set in the config file. */
export interface AnalyzeConfig {
  readonly rotation: RotationPolicy;
  /** Observations older than this are ignored: they neither open nor keep nor resolve an incident. */
  readonly staleAfterMs: number;
}

/** Everything a detector may look at. Pure data; `now` is injected. */
export interface AnalysisInput {
  readonly now: number;
  readonly workloads: readonly Workload[];
  /** Latest observation per `${subject}|${source}`. */
  readonly observations: ReadonlyMap<string, Observation>;
  readonly openIncidents: readonly Incident[];
  readonly config: AnalyzeConfig;
}
