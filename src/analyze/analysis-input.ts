import type { Incident } from '../knowledge/model/incident.js';
import type { Observation } from '../knowledge/model/observation.js';
import type { Workload } from '../knowledge/model/workload.js';
import type { RotationPolicy } from '../knowledge/svid-rotation.js';

/** Thresholds for analysis, set in the config file. */
export interface AnalyzeConfig {
  readonly rotation: RotationPolicy;
  /** Observations older than this are ignored: they neither open nor keep nor resolve an incident. */
  readonly staleAfterMs: number;
  /** An agent whose last successful sync is older than this has lost its server. */
  readonly agentSyncStaleMs: number;
  /** An agent unreachable for this long is disconnected (one failed poll is not). */
  readonly agentDownForMs: number;
  /** A trust-bundle difference is drift only after the server's bundle has been stable this long (CA prepare/activate windows). */
  readonly bundleDriftGraceMs: number;
  /** mTLS errors count while their counters rose within this window. */
  readonly mtlsWindowMs: number;
  /** Share of failed handshakes (since the Envoy started) above which errors are an incident. */
  readonly mtlsErrorRatio: number;
  /** A Cloud Run service not ready for this long is an incident. */
  readonly cloudRunNotReadyForMs: number;
  /** Hysteresis: recovery evidence must hold this long before an incident resolves. */
  readonly healthyForMs: number;
  /** A symptom resolved this many times within flapWindowMs is flapping: reported once, not reopened. */
  readonly flapMaxCycles: number;
  readonly flapWindowMs: number;
  /** More than this share of the workloads with symptoms (and at least stormMinWorkloads) is a fleet storm. */
  readonly stormShare: number;
  readonly stormMinWorkloads: number;
}

/** Defaults for production fleets (SPIRE agents sync every 5 s; CA rotations take minutes). */
export const defaultAnalyzeThresholds = {
  agentSyncStaleMs: 60_000,
  agentDownForMs: 15_000,
  bundleDriftGraceMs: 300_000,
  mtlsWindowMs: 600_000,
  mtlsErrorRatio: 0.01,
  cloudRunNotReadyForMs: 60_000,
  healthyForMs: 30_000,
  flapMaxCycles: 3,
  flapWindowMs: 1_800_000,
  stormShare: 0.5,
  stormMinWorkloads: 10,
} as const;

/** Everything a detector may look at. Pure data; `now` is injected. */
export interface AnalysisInput {
  readonly now: number;
  readonly workloads: readonly Workload[];
  /** Latest observation per `${subject}|${source}`. */
  readonly observations: ReadonlyMap<string, Observation>;
  readonly openIncidents: readonly Incident[];
  /** Incidents resolved within the flap window (newest last); absent = none. */
  readonly recentlyResolved?: readonly Incident[];
  readonly config: AnalyzeConfig;
}
