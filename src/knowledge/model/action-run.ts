export type ActionName = 'restart_envoy';

export type ActionRunState = 'queued' | 'running' | 'succeeded' | 'failed' | 'skipped';

/** One execution of one remediation step. `id` equals the BullMQ job id. */
export interface ActionRun {
  readonly id: string;
  readonly incidentId: string;
  readonly step: number;
  readonly attempt: number;
  readonly action: ActionName;
  /** Workload id the action targets. */
  readonly target: string;
  readonly state: ActionRunState;
  readonly enqueuedAt: number;
  readonly startedAt: number | null;
  readonly finishedAt: number | null;
  /** Why it was skipped or failed, or what the effect was. */
  readonly detail: string;
  /** Recorded when the plan is in shadow mode or dry-run: the action was decided but not performed. */
  readonly performed: boolean;
}

/** BullMQ job ids may not contain ':' and may not be integers; incident ids already satisfy that. */
export function makeActionRunId(incidentId: string, step: number, attempt: number): string {
  return `${incidentId}--s${step}--a${attempt}`;
}

/** What plan asks execute to do: one step of one incident's plan (the BullMQ job payload). */
export interface RemediationRequest {
  /** Deterministic job id (makeActionRunId); the same step is never queued twice. */
  readonly id: string;
  readonly incidentId: string;
  readonly step: number;
  readonly attempt: number;
  readonly action: ActionName;
  readonly target: string;
  /** When the plan decided it (ms). */
  readonly decidedAt: number;
  /** Shadow mode: record the decision and everything around it, but do not perform the effect. */
  readonly shadow: boolean;
}
