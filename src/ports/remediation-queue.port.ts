import type { ActionName } from '../knowledge/model/action-run.js';

/** A remediation job: one step of one incident's plan. */
export interface RemediationJob {
  /** Deterministic job id (see makeActionRunId); the same step is never queued twice. */
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

/** What a job processor returns; every job ends in exactly one of these. */
export type RemediationOutcome =
  | { readonly result: 'succeeded'; readonly detail: string }
  | { readonly result: 'skipped'; readonly detail: string }
  | { readonly result: 'failed'; readonly detail: string };

export type RemediationProcessor = (job: RemediationJob, signal: AbortSignal) => Promise<RemediationOutcome>;

export interface RemediationQueuePort {
  /** Adds the job; adding an id that already exists is a no-op returning false. */
  enqueue(job: RemediationJob): Promise<boolean>;
  /** Starts consuming with `processor` (concurrency per worker). */
  startWorker(processor: RemediationProcessor, opts?: { readonly concurrency?: number }): Promise<void>;
  /** Stops fetching, aborts in-flight jobs after `graceMs`, closes connections. */
  close(graceMs?: number): Promise<void>;
  /** Counts by state, for status and metrics. */
  counts(): Promise<Record<string, number>>;
}
