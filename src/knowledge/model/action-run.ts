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
