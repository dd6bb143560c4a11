import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { expiryMarginMs, MIN_JOB_MS, MIN_VERIFY_MS, paceBackoff, paceStep, remainingLadderMs } from '../../../src/plan/pacing.js';
import type { PlaybookStep } from '../../../src/plan/playbooks/playbook.js';
import { step } from '../../builders/playbooks.js';

const HOUR = 3_600_000;
const MIN = 60_000;

/** Walks a ladder whose every attempt fails at its full (paced) timeouts; returns when each attempt started. */
function failingLadder(
  steps: readonly PlaybookStep[],
  start: number,
  expiresAt: number,
  lifetimeMs: number,
): { step: number; attempt: number; at: number }[] {
  const starts: { step: number; attempt: number; at: number }[] = [];
  let now = start;
  for (let s = 0; s < steps.length; s++) {
    for (let a = 1; a <= (steps[s]?.attempts ?? 1); a++) {
      const input = { now, expiresAt, lifetimeMs, steps, step: s, attempt: a };
      if (a > 1) now += paceBackoff(input);
      const paced = paceStep({ ...input, now });
      starts.push({ step: s, attempt: a, at: now });
      now += paced.jobTimeoutMs + paced.verifyTimeoutMs;
    }
  }
  return starts;
}

describe('expiry-aware pacing', () => {
  it('a 1-hour SVID detected at half-life gets at least 3 attempts and reaches its last step before T-10min', () => {
    // Configured for a slow world: 5 min jobs and 10 min verifies, 2 attempts, 5 min backoff. Unpaced that is
    // 70 min in the worst case (each step may also wait one verify timeout to settle after verifying); the SVID has 30 left.
    const slow = [
      step({ jobTimeoutMs: 5 * MIN, verify: { expect: 'envoy_new_serial', timeoutMs: 10 * MIN }, attempts: 2, backoffMs: 5 * MIN }),
      step({ action: 'redeploy', jobTimeoutMs: 5 * MIN, verify: { expect: 'incident_resolved', timeoutMs: 10 * MIN } }),
    ];
    assert.equal(remainingLadderMs(slow, 0, 1), (5 + 10 + 5 + 5 + 10 + 10) * MIN + (5 + 10 + 10) * MIN);
    const issued = 0;
    const expiresAt = issued + HOUR;
    const starts = failingLadder(slow, issued + HOUR / 2, expiresAt, HOUR);
    assert.ok(starts.length >= 3);
    const last = starts.at(-1);
    assert.equal(last?.step, 1);
    assert.ok(last.at < expiresAt - 10 * MIN, `last step starts at T-${(expiresAt - last.at) / MIN} min`);
    assert.equal(expiryMarginMs(HOUR), 10 * MIN);
  });

  it('leaves configured timeouts alone when they fit, and when the expiry is unknown', () => {
    const s = [step({ jobTimeoutMs: 10_000, verify: { expect: 'incident_resolved', timeoutMs: 20_000 } })];
    assert.deepEqual(paceStep({ now: 0, expiresAt: HOUR, lifetimeMs: HOUR, steps: s, step: 0, attempt: 1 }), {
      jobTimeoutMs: 10_000,
      verifyTimeoutMs: 20_000,
      scale: 1,
      note: '',
    });
    assert.equal(paceStep({ now: 0, expiresAt: null, lifetimeMs: null, steps: s, step: 0, attempt: 1 }).scale, 1);
  });

  it('property: paced timeouts never exceed what is configured, never go below the floor, and the rest of the ladder fits when the floors allow', () => {
    const stepArb = fc
      .record({
        jobTimeoutMs: fc.integer({ min: MIN_JOB_MS, max: 10 * MIN }),
        verifyMs: fc.integer({ min: MIN_VERIFY_MS, max: 20 * MIN }),
        attempts: fc.integer({ min: 1, max: 4 }),
        backoffMs: fc.integer({ min: 0, max: 5 * MIN }),
      })
      .map((r) =>
        step({
          jobTimeoutMs: r.jobTimeoutMs,
          verify: { expect: 'incident_resolved', timeoutMs: r.verifyMs },
          attempts: r.attempts,
          backoffMs: r.backoffMs,
        }),
      );
    fc.assert(
      fc.property(
        fc.array(stepArb, { minLength: 1, maxLength: 4 }),
        fc.integer({ min: 0, max: 2 * HOUR }),
        fc.integer({ min: 60_000, max: 24 * HOUR }),
        (steps, left, lifetime) => {
          const now = 1_000_000;
          const input = { now, expiresAt: now + left, lifetimeMs: lifetime, steps, step: 0, attempt: 1 };
          const p = paceStep(input);
          const s0 = steps[0] as PlaybookStep;
          assert.ok(p.jobTimeoutMs <= s0.jobTimeoutMs && p.verifyTimeoutMs <= s0.verify.timeoutMs);
          assert.ok(
            p.jobTimeoutMs >= Math.min(MIN_JOB_MS, s0.jobTimeoutMs) && p.verifyTimeoutMs >= Math.min(MIN_VERIFY_MS, s0.verify.timeoutMs),
          );
          const budget = left - expiryMarginMs(lifetime);
          const need = remainingLadderMs(steps, 0, 1);
          const floorsBind = steps.some((s) => s.jobTimeoutMs * p.scale < MIN_JOB_MS || s.verify.timeoutMs * p.scale < MIN_VERIFY_MS);
          if (!floorsBind && budget > 0)
            assert.ok(need * p.scale <= budget + 1, `scaled ladder ${need * p.scale} exceeds budget ${budget}`);
          // Backoff never outgrows the time left.
          const b = paceBackoff({ ...input, attempt: 2 });
          assert.ok(b <= Math.max(0, budget));
        },
      ),
    );
  });
});
