import type { RemediationRequest } from '../knowledge/model/action-run.js';

/** A remediation job is the plan's request, carried through the queue unchanged. */
export type RemediationJob = RemediationRequest;

/** What a job processor returns; every job ends in exactly one of these. */
export interface RemediationOutcome {
  readonly result: 'succeeded' | 'skipped' | 'failed';
  readonly detail: string;
  /** A transient failure with deliveries left: the queue delivers the job again after an exponential backoff. */
  readonly retry?: boolean;
  /** A failure whose retry class is permanent, already recorded: the queue ends the job without another delivery. */
  readonly permanent?: boolean;
}

/** Which delivery this is: 1-based attempt and the queue's maximum. */
export interface JobDelivery {
  readonly attempt: number;
  readonly maxAttempts: number;
}

export type RemediationProcessor = (job: RemediationJob, signal: AbortSignal, delivery: JobDelivery) => Promise<RemediationOutcome>;

export interface RemediationQueuePort {
  /** Adds the job; adding an id that already exists is a no-op returning false. */
  enqueue(job: RemediationJob): Promise<boolean>;
  /** Starts consuming with `processor` (concurrency per worker). */
  startWorker(processor: RemediationProcessor, opts?: { readonly concurrency?: number }): Promise<void>;
  /**
   * Graceful stop of the worker only: stops fetching at once (jobs not started stay queued for
   * the next worker), lets in-flight jobs finish and aborts them after `graceMs`; enqueue keeps
   * working. Resolves when no job is in flight. Idempotent; a no-op without a worker.
   */
  stopWorker(graceMs?: number): Promise<void>;
  /** stopWorker(graceMs), then closes every connection. */
  close(graceMs?: number): Promise<void>;
  /** Counts by state, for status and metrics. */
  counts(): Promise<Record<string, number>>;
}
