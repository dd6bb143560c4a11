export type ActionName = 'restart_envoy';

export type ActionRunState = 'queued' | 'running' | 'succeeded' | 'failed' | 'skipped';

/** Identifies one attempt of one step of one incident's plan, and what it does to which target. */
export interface RemediationStep {
  /** Deterministic id (makeActionRunId), also the BullMQ job id: the same step is never queued twice. */
  readonly id: string;
  readonly incidentId: string;
  readonly step: number;
  readonly attempt: number;
  readonly action: ActionName;
  /** Workload id the action targets. */
  readonly target: string;
}

/** What plan asks execute to do (the BullMQ job payload). */
export interface RemediationRequest extends RemediationStep {
  /** When the plan decided it (ms). */
  readonly decidedAt: number;
  /** Shadow mode: record the decision and everything around it, but do not perform the effect. */
  readonly shadow: boolean;
}

/** One execution of one remediation step, as recorded in knowledge. */
export interface ActionRun extends RemediationStep {
  readonly state: ActionRunState;
  readonly enqueuedAt: number;
  readonly startedAt: number | null;
  readonly finishedAt: number | null;
  /** Why it was skipped or failed, or what the effect was. */
  readonly detail: string;
  /** False when the effect was not applied (skipped, failed before acting, or shadow mode). */
  readonly performed: boolean;
}

/** BullMQ job ids may not contain ':' and may not be integers; incident ids already satisfy that. */
export function makeActionRunId(incidentId: string, step: number, attempt: number): string {
  return `${incidentId}--s${step}--a${attempt}`;
}
