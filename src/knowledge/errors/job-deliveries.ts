import type { RemediationRequest } from '../model/action-run.js';

/** Deliveries of a job by default: the first plus two retries of a retryable failure. */
export const DEFAULT_DELIVERIES = 3;
/** The most deliveries a step may ask for. */
export const MAX_DELIVERIES = 10;

/**
 * How many times the queue may deliver `job`: a retryable failure is delivered again while
 * deliveries are left, a permanent one never. A `notify` step's `params.attempts` (an integer
 * 1–10) is its number of deliveries: each delivery POSTs once, and nothing retries inside a job.
 * Anything else, and a notify step without a usable `attempts`, gets DEFAULT_DELIVERIES.
 */
export function deliveriesOf(job: RemediationRequest): number {
  const attempts = job.action === 'notify' ? job.params?.attempts : undefined;
  if (typeof attempts !== 'number' || !Number.isInteger(attempts) || attempts < 1) return DEFAULT_DELIVERIES;
  return Math.min(MAX_DELIVERIES, attempts);
}
