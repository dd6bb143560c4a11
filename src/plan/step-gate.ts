import type { ControlState, KnowledgeStore } from '../knowledge/knowledge-store.js';
import type { Incident, IncidentType } from '../knowledge/model/incident.js';
import { formatDuration } from '../knowledge/svid-rotation.js';
import { checkGuardrails, type GuardHold } from './guardrails.js';
import type { IncidentPlanContext, StepGate } from './incident-plan.machine.js';
import { paceBackoff, paceStep } from './pacing.js';
import { planHash } from './plan-hash.js';
import { preconditionFailure } from './playbooks/match-playbook.js';
import type { Playbook } from './playbooks/playbook.js';
import type { SubjectFacts } from './subject-facts.js';

/** Incident types whose remediation must finish before the affected certificate expires (see pacing.ts). */
const EXPIRY_BOUND_TYPES: ReadonlySet<IncidentType> = new Set(['rotation_failed', 'agent_disconnected']);

/** Fleet-wide state of one reconcile pass, shared by every incident's gate. */
export interface PassState {
  readonly now: number;
  readonly control: ControlState;
  readonly storm: { readonly open: Incident | null; readonly lastResolvedAt: number | null };
  /** Plans executing, verifying, verified or escalated, by playbook / service / node; updated as steps start. */
  readonly inFlight: InFlightTally;
  readonly groupSizes: { readonly service: ReadonlyMap<string, number>; readonly node: ReadonlyMap<string, number> };
}

/** Counts of in-flight plans per group; one incident counts once. */
export class InFlightTally {
  private readonly members = new Map<string, Set<string>>();

  add(incidentId: string, ctx: Pick<IncidentPlanContext, 'playbook' | 'group'>): void {
    for (const key of this.keysOf(ctx)) {
      const set = this.members.get(key) ?? new Set<string>();
      set.add(incidentId);
      this.members.set(key, set);
    }
  }

  /** In-flight plans in each of the incident's groups, not counting the incident itself. */
  count(incidentId: string, ctx: Pick<IncidentPlanContext, 'playbook' | 'group'>): { playbook: number; service: number; node: number } {
    const n = (key: string | null) => {
      if (key === null) return 0;
      const set = this.members.get(key);
      return set === undefined ? 0 : set.size - (set.has(incidentId) ? 1 : 0);
    };
    return {
      playbook: n(`pb|${ctx.playbook}`),
      service: n(ctx.group.service === null ? null : `svc|${ctx.group.service}`),
      node: n(ctx.group.node === null ? null : `node|${ctx.group.node}`),
    };
  }

  private keysOf(ctx: Pick<IncidentPlanContext, 'playbook' | 'group'>): string[] {
    const keys = [`pb|${ctx.playbook}`];
    if (ctx.group.service !== null) keys.push(`svc|${ctx.group.service}`);
    if (ctx.group.node !== null) keys.push(`node|${ctx.group.node}`);
    return keys;
  }
}

/** The gate of the step a waiting plan is on, with the guardrail hold when there is one (for dry-run). */
export interface GateDecision {
  readonly gate: StepGate;
  readonly hold: GuardHold | null;
}

/**
 * Decides whether the plan's current step may start now, in this order: its preconditions (a
 * failing one skips the step: diagnosis chooses the first step), the guardrails, the retry
 * backoff, the approval (approve mode), then pacing of its timeouts against the certificate's
 * expiry. Reads the ledger and approvals from the store; writes nothing.
 */
export async function decideGate(
  store: KnowledgeStore,
  pass: PassState,
  ctx: IncidentPlanContext,
  playbook: Playbook,
  incident: Incident,
  facts: SubjectFacts,
): Promise<GateDecision> {
  const now = pass.now;
  const step = ctx.steps[ctx.step];
  if (step === undefined) return { gate: { kind: 'skip', reason: 'the playbook has no such step' }, hold: null };
  const pre = preconditionFailure(step.when, incident, facts);
  if (pre !== null) return { gate: { kind: 'skip', reason: `precondition not met: ${pre}` }, hold: null };

  const g = playbook.guardrails;
  const [playbookInWindow, subjectInWindow, last] = await Promise.all([
    g.maxActionsPerPlaybook === null ? 0 : store.countLedgerEntries({ playbook: playbook.name }, now - g.maxActionsPerPlaybook.windowMs),
    g.maxActionsPerSubject === null ? 0 : store.countLedgerEntries({ subject: incident.subject }, now - g.maxActionsPerSubject.windowMs),
    store.lastLedgerEntry(incident.subject),
  ]);
  const hold = checkGuardrails({
    now,
    playbook,
    incident,
    facts,
    control: pass.control,
    storm: pass.storm,
    ledger: { playbookInWindow, subjectInWindow, lastOnSubject: last === null ? null : { at: last.at, incidentId: last.incidentId } },
    inFlight: pass.inFlight.count(incident.id, ctx),
    groupSizes: {
      service: ctx.group.service === null ? null : (pass.groupSizes.service.get(ctx.group.service) ?? null),
      node: ctx.group.node === null ? null : (pass.groupSizes.node.get(ctx.group.node) ?? null),
    },
  });
  if (hold !== null) return { gate: { kind: 'hold', guardrail: hold.guardrail, reason: hold.reason }, hold };

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
    const a = await store.getApproval(incident.id);
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
      note: paced.note,
    },
    hold: null,
  };
}
