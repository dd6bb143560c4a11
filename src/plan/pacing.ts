import type { PlaybookStep } from './playbooks/playbook.js';

/** Timeouts of the step about to start, fitted into the time left before the affected certificate expires. */
export interface PacedStep {
  readonly jobTimeoutMs: number;
  readonly verifyTimeoutMs: number;
  /** 1 when the configured timeouts fit; below 1 when they were shortened. */
  readonly scale: number;
  /** In words, for the audit log ("" when nothing was shortened). */
  readonly note: string;
}

/** What pacing needs to know. */
export interface PacingInput {
  readonly now: number;
  /** When the affected certificate expires (null: unknown, configured timeouts apply). */
  readonly expiresAt: number | null;
  /** Its lifetime (null: unknown; a 1-hour SVID is assumed for the safety margin). */
  readonly lifetimeMs: number | null;
  readonly steps: readonly PlaybookStep[];
  /** Index of the step about to run and its attempt (1-based). */
  readonly step: number;
  readonly attempt: number;
}

/** The shortest job and verify timeouts pacing will use: below these a step cannot work at all. */
export const MIN_JOB_MS = 2_000;
export const MIN_VERIFY_MS = 3_000;

/**
 * Safety margin before expiry: the ladder must be done this long before the certificate expires
 * (a sixth of its lifetime: 10 min for a 1-hour SVID).
 */
export function expiryMarginMs(lifetimeMs: number | null): number {
  return (lifetimeMs ?? 3_600_000) / 6;
}

/**
 * Worst-case time the rest of the ladder takes with the configured timeouts, from `step`/`attempt`
 * on: every attempt's job and verification and the backoffs between them, plus, per step, the
 * settle wait after a verified attempt (the plan waits up to one more verify timeout for the
 * incident to clear before it moves on).
 */
export function remainingLadderMs(steps: readonly PlaybookStep[], step: number, attempt: number): number {
  let total = 0;
  for (let i = step; i < steps.length; i++) {
    const s = steps[i];
    if (s === undefined) continue;
    const first = i === step ? attempt : 1;
    for (let a = first; a <= s.attempts; a++) {
      total += s.jobTimeoutMs + s.verify.timeoutMs;
      if (a > 1) total += backoffMs(s, a);
    }
    total += s.verify.timeoutMs;
  }
  return total;
}

/** Configured delay before attempt `attempt` (>= 2) of a step: backoff doubled per further attempt. */
export function backoffMs(step: PlaybookStep, attempt: number): number {
  return attempt <= 1 ? 0 : step.backoffMs * 2 ** (attempt - 2);
}

/** Time left for the ladder: until expiry minus the margin (null when the expiry is unknown). */
export function ladderBudgetMs(input: Pick<PacingInput, 'now' | 'expiresAt' | 'lifetimeMs'>): number | null {
  return input.expiresAt === null ? null : input.expiresAt - expiryMarginMs(input.lifetimeMs) - input.now;
}

/**
 * Pure: the timeouts of the step about to start. When the rest of the ladder (every remaining
 * attempt and step at its configured timeouts and backoffs) does not fit before expiry minus the
 * margin, every timeout is scaled down by the same factor, never below MIN_JOB_MS/MIN_VERIFY_MS
 * (nor above what is configured). Recomputed at each step start, so the ladder keeps adapting.
 */
export function paceStep(input: PacingInput): PacedStep {
  const step = input.steps[input.step];
  if (step === undefined) return { jobTimeoutMs: 0, verifyTimeoutMs: 0, scale: 1, note: '' };
  const budget = ladderBudgetMs(input);
  const need = remainingLadderMs(input.steps, input.step, input.attempt);
  if (budget === null || need <= budget)
    return { jobTimeoutMs: step.jobTimeoutMs, verifyTimeoutMs: step.verify.timeoutMs, scale: 1, note: '' };
  const scale = Math.max(0, budget) / need;
  const jobTimeoutMs = Math.min(step.jobTimeoutMs, Math.max(MIN_JOB_MS, Math.floor(step.jobTimeoutMs * scale)));
  const verifyTimeoutMs = Math.min(step.verify.timeoutMs, Math.max(MIN_VERIFY_MS, Math.floor(step.verify.timeoutMs * scale)));
  const left = Math.round(Math.max(0, budget) / 1000);
  return {
    jobTimeoutMs,
    verifyTimeoutMs,
    scale,
    note: `paced to fit the ${left}s left before expiry minus margin: timeouts ${Math.round(jobTimeoutMs / 1000)}s/${Math.round(verifyTimeoutMs / 1000)}s instead of ${Math.round(step.jobTimeoutMs / 1000)}s/${Math.round(step.verify.timeoutMs / 1000)}s`,
  };
}

/**
 * Pure: delay before retrying `attempt` (>= 2) of the current step. Exponential from the step's
 * backoff, scaled like the timeouts, and never more than the budget shared by the attempts and
 * steps still to come, so backoff cannot outgrow the certificate's remaining lifetime.
 */
export function paceBackoff(input: PacingInput): number {
  const step = input.steps[input.step];
  if (step === undefined) return 0;
  const configured = backoffMs(step, input.attempt);
  const budget = ladderBudgetMs(input);
  if (budget === null) return configured;
  const need = remainingLadderMs(input.steps, input.step, input.attempt);
  const scaled = need <= 0 || need <= budget ? configured : Math.floor(configured * (Math.max(0, budget) / need));
  const stepsLeft = input.steps.length - input.step;
  return Math.max(0, Math.min(scaled, Math.floor(Math.max(0, budget) / (2 * stepsLeft))));
}
