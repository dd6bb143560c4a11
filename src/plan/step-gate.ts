import type { Approval } from '../knowledge/knowledge-store.js';
import { formatDuration } from '../knowledge/svid-rotation.js';
import { checkGuardrails, EXPIRY_BOUND_TYPES, expiresWhileHeld, type GuardHold, type GuardInput } from './guardrails.js';
import type { IncidentPlanContext, StepGate } from './incident-plan.machine.js';
import { paceBackoff, paceStep } from './pacing.js';
import { planHash } from './plan-hash.js';
import { preconditionFailure } from './playbooks/match-playbook.js';

/**
 * What the gate of one plan's step looks at: the guardrails' input (gathered at the start of the
 * pass, with the ledger and in-flight tally carried forward over the steps started earlier in the
 * pass), the plan, and the operator's approval.
 */
export interface GateInput extends GuardInput {
  readonly ctx: IncidentPlanContext;
  readonly approval: Approval | null;
}

/** The gate of the step a waiting plan is on, with the guardrail hold when there is one (for dry-run). */
export interface GateDecision {
  readonly gate: StepGate;
  readonly hold: GuardHold | null;
}

/**
 * Pure: whether the plan's current step may start now, in this order: its preconditions (a
 * failing one skips the step: diagnosis chooses the first step), the guardrails, the retry
 * backoff, the approval (approve mode), then pacing of its timeouts against the certificate's
 * expiry.
 */
export function decideGate(input: GateInput): GateDecision {
  const { now, ctx, playbook, incident, facts } = input;
  const step = ctx.steps[ctx.step];
  if (step === undefined) return { gate: { kind: 'skip', reason: 'the playbook has no such step' }, hold: null };
  const pre = preconditionFailure(step.when, incident, facts);
  if (pre !== null) return { gate: { kind: 'skip', reason: `precondition not met: ${pre}` }, hold: null };

  // A hold that outlasts the certificate is marked (and escalated once by the plan machine); a
  // cooldown gives way instead when the playbook says so (cooldownYieldsToExpiry).
  let hold = checkGuardrails(input);
  let yieldNote = '';
  let expiresAt = hold === null ? null : expiresWhileHeld(hold, input, ctx.steps, ctx.step, ctx.attempt);
  if (hold?.guardrail === 'cooldown' && expiresAt !== null && playbook.guardrails.cooldownYieldsToExpiry) {
    yieldNote = `the cooldown yields to the certificate's expiry at ${new Date(expiresAt).toISOString()} (${hold.reason})`;
    hold = checkGuardrails(input, new Set(['cooldown']));
    expiresAt = hold === null ? null : expiresWhileHeld(hold, input, ctx.steps, ctx.step, ctx.attempt);
  }
  if (hold !== null) return { gate: { kind: 'hold', guardrail: hold.guardrail, reason: hold.reason, expiresWhileHeldAt: expiresAt }, hold };

  // Only a certificate that stops rotating makes its expiry the deadline of the ladder; a Cloud
  // Run rollout, mTLS errors or bundle drift are not bounded by the served leaf's lifetime.
  const expiryBound = EXPIRY_BOUND_TYPES.has(incident.type);
  const pacing = {
    now,
    expiresAt: expiryBound ? facts.expiresAt : null,
    lifetimeMs: expiryBound ? facts.lifetimeMs : null,
    steps: ctx.steps,
    step: ctx.step,
    attempt: ctx.attempt,
  };
  if (ctx.attempt > 1 && ctx.retryFrom !== null) {
    // Exponential while the SPIRE server is failing; back to the base delay once it answers again.
    const delay = facts.serverHealthy === false ? paceBackoff(pacing) : Math.min(step.backoffMs, paceBackoff(pacing));
    if (now < ctx.retryFrom + delay) {
      const reason = `backoff: attempt ${ctx.attempt} of step ${ctx.step + 1} waits ${formatDuration(ctx.retryFrom + delay - now)} more`;
      return { gate: { kind: 'hold', guardrail: 'backoff', reason }, hold: null };
    }
  }

  if (playbook.mode === 'approve') {
    const hash = planHash({ incidentId: incident.id, playbook: playbook.name, steps: ctx.steps, step: ctx.step, target: incident.subject });
    const a = input.approval;
    const words = `step ${ctx.step + 1} (${step.action} on ${incident.subject}, plan ${hash})`;
    if (a === null)
      return {
        gate: {
          kind: 'await_approval',
          planHash: hash,
          reason: `waiting for approval of ${words}: run spire-healer approve ${incident.id}`,
        },
        hold: null,
      };
    if (a.planHash !== hash)
      return {
        gate: {
          kind: 'await_approval',
          planHash: hash,
          reason: `the approval by ${a.by} was for plan ${a.planHash}; the plan is now ${hash}: approve ${words} again`,
        },
        hold: null,
      };
    if (a.expiresAt <= now)
      return {
        gate: {
          kind: 'await_approval',
          planHash: hash,
          reason: `the approval by ${a.by} expired at ${new Date(a.expiresAt).toISOString()}: approve ${words} again`,
        },
        hold: null,
      };
  }

  const paced = paceStep(pacing);
  return {
    gate: {
      kind: 'go',
      jobTimeoutMs: paced.jobTimeoutMs,
      verifyTimeoutMs: paced.verifyTimeoutMs,
      baselineSerial: facts.leafSerial,
      note: [yieldNote, paced.note].filter((n) => n !== '').join('; '),
    },
    hold: null,
  };
}
