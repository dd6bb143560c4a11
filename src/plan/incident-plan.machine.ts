import { assign, setup } from 'xstate';
import { makeActionRunId } from '../knowledge/model/action-run.js';
import type { PlaybookMode, PlaybookStep } from './playbooks/playbook.js';
import type { VerifyResult } from './post-conditions.js';

/** Plan machine input: the incident and the playbook chosen for it. */
export interface IncidentPlanInput {
  readonly incidentId: string;
  readonly subject: string;
  readonly playbook: string;
  readonly mode: PlaybookMode;
  readonly steps: readonly PlaybookStep[];
  /** Blast-radius groups of the subject, fixed at plan start so in-flight counts need no extra reads. */
  readonly group: { readonly service: string | null; readonly node: string | null };
}

/**
 * Context is plain data so the snapshot persists as JSON. Deadlines are absolute times kept as
 * data and checked on `plan.tick` (xstate `after` timers are not restored after a restart).
 */
export interface IncidentPlanContext extends IncidentPlanInput {
  /** Index of the current step in `steps`. */
  readonly step: number;
  /** 1-based attempt of the current step. */
  readonly attempt: number;
  /** Bumped when a job was skipped by a gate (kill switch, storm) so the same attempt runs again under a new job id. */
  readonly rerun: number;
  /** Job id of the step in flight (deterministic from incident, step, attempt, rerun). */
  readonly jobId: string | null;
  readonly deadlineAt: number | null;
  /** Verify timeout of the step in flight (paced at its start). */
  readonly verifyTimeoutMs: number;
  readonly jobFinishedAt: number | null;
  /** When the last attempt failed: the retry backoff counts from here. */
  readonly retryFrom: number | null;
  /** The Envoy serial when the step started (for envoy_new_serial). */
  readonly baselineSerial: string | null;
  /** The guardrail holding the plan back while `held` (null otherwise). */
  readonly heldBy: string | null;
  /** Plan hash the step waits to have approved (approve mode). */
  readonly awaitingPlanHash: string | null;
  /** Why the last transition happened, in words (audited). */
  readonly reason: string;
  /**
   * While held by a guardrail that outlasts the affected certificate (its expiry minus the time the
   * ladder needs): when that certificate expires. Escalated once; cleared when a step starts.
   * Optional so snapshots written before it existed restore as not marked.
   */
  readonly expiresWhileHeldAt?: number | null;
}

/** What the reconciler decided about the step the plan is on, from guardrails, preconditions and approvals. */
export type StepGate =
  | { readonly kind: 'skip'; readonly reason: string }
  | {
      readonly kind: 'hold';
      readonly guardrail: string;
      readonly reason: string;
      /** Set when the hold outlasts the certificate: when it expires (see step-gate.ts). */
      readonly expiresWhileHeldAt?: number | null;
    }
  | { readonly kind: 'await_approval'; readonly planHash: string; readonly reason: string }
  | {
      readonly kind: 'go';
      readonly jobTimeoutMs: number;
      readonly verifyTimeoutMs: number;
      readonly baselineSerial: string | null;
      readonly note: string;
    };

/** Events: all carry the time they refer to; the machine never reads a clock. */
export type IncidentPlanEvent =
  | {
      readonly type: 'plan.tick';
      readonly now: number;
      /** Only used in ready/held/awaitingApproval. */
      readonly gate: StepGate;
      /** Only used while verifying: the step's post-condition on fresh observations. */
      readonly verify: VerifyResult | null;
      /** The incident shows recovery (verified steps wait for resolution while it does). */
      readonly recovering: boolean;
    }
  | {
      readonly type: 'job.finished';
      readonly at: number;
      readonly result: 'succeeded' | 'failed' | 'skipped';
      readonly detail: string;
      readonly held: boolean;
    }
  | { readonly type: 'playbook.updated'; readonly mode: PlaybookMode; readonly steps: readonly PlaybookStep[] }
  | { readonly type: 'incident.resolved'; readonly at: number; readonly reason: string };

/**
 * Parameters of every effect action: the context once the transition's assignments so far are
 * applied, and the event that caused it. plan-effects.ts maps each named action to its write.
 */
export interface PlanEffectParams {
  readonly context: IncidentPlanContext;
  readonly event: IncidentPlanEvent;
}

/** Persisted form of the machine state. */
export interface IncidentPlanSnapshot {
  readonly value: string;
  readonly context: IncidentPlanContext;
}

const stepOf = (c: IncidentPlanContext): PlaybookStep | undefined => c.steps[c.step];
const tickOf = (e: IncidentPlanEvent) => (e.type === 'plan.tick' ? e : null);
const when = (ms: number | null): string => (ms === null ? '?' : new Date(ms).toISOString());
const heldUntilExpiry = (c: IncidentPlanContext): number | null => c.expiresWhileHeldAt ?? null;
const holdGate = (e: IncidentPlanEvent) => {
  const g = tickOf(e)?.gate;
  return g?.kind === 'hold' ? g : null;
};
/** Effect actions only describe: the caller maps them to writes (they do nothing when run by an actor). */
const effect = (_: unknown, params: PlanEffectParams): PlanEffectParams => params;
const withContext = ({ context, event }: { context: IncidentPlanContext; event: IncidentPlanEvent }): PlanEffectParams => ({
  context,
  event,
});
/** A named effect action with the context and event as its parameters. */
const fx = <T extends EffectName>(type: T) => ({ type, params: withContext });

/**
 * Per-incident remediation ladder, used as a pure reducer (`transition()`):
 *
 *  ready / held / awaitingApproval --gate go--> executing --job ok/skipped--> verifying --post-condition--> verified --resolved--> resolved
 *       |  gate skip (precondition)              | job failed / deadline       | deadline                    | settle deadline, no recovery
 *       v                                        v                             v                             v
 *    advancing --more steps--> ready          retrying --attempts left--> ready (attempt+1)             advancing --none left--> escalated
 *
 * `incident.resolved` ends the plan from any state. `escalated` means a person is needed. Gates
 * (guardrails, approvals, preconditions, pacing) are decided by decide-pass.ts and passed in the
 * tick, so the machine only sequences. Side effects are the named effect actions `transition()`
 * returns (enqueue the step's job, record its ledger entry, notify a person, audit): plan-effects.ts
 * maps them to writes, apply-pass.ts performs them, idempotent by job id and audit dedup key.
 * While executing or escalated every tick re-asserts the job (level-based: a crash between saving
 * the snapshot and enqueueing is repaired on the next pass).
 */
export const incidentPlanMachine = setup({
  types: { context: {} as IncidentPlanContext, events: {} as IncidentPlanEvent, input: {} as IncidentPlanInput },
  guards: {
    gateSkip: ({ event }) => tickOf(event)?.gate.kind === 'skip',
    gateHold: ({ event }) => tickOf(event)?.gate.kind === 'hold',
    gateApproval: ({ event }) => tickOf(event)?.gate.kind === 'await_approval',
    gateGo: ({ event }) => tickOf(event)?.gate.kind === 'go',
    deadlinePassed: ({ context, event }) => event.type === 'plan.tick' && context.deadlineAt !== null && event.now >= context.deadlineAt,
    verified: ({ event }) => tickOf(event)?.verify?.holds === true,
    jobFailed: ({ event }) => event.type === 'job.finished' && event.result === 'failed',
    jobHeld: ({ event }) => event.type === 'job.finished' && event.held,
    settleDeadlinePassed: ({ context, event }) =>
      event.type === 'plan.tick' && !event.recovering && context.deadlineAt !== null && event.now >= context.deadlineAt,
    hasNextStep: ({ context }) => context.step + 1 < context.steps.length,
    /** The hold outlasts the certificate and this plan has not been marked (escalated) for it yet. */
    holdNewlyPastExpiry: ({ context, event }) =>
      (holdGate(event)?.expiresWhileHeldAt ?? null) !== null && heldUntilExpiry(context) === null,
    /** As above, and the guardrail holding the plan changed (audited as a new hold). */
    holdChangedNewlyPastExpiry: ({ context, event }) => {
      const g = holdGate(event);
      return g !== null && (g.expiresWhileHeldAt ?? null) !== null && heldUntilExpiry(context) === null && g.guardrail !== context.heldBy;
    },
    holdChanged: ({ context, event }) => {
      const g = holdGate(event);
      return g !== null && g.guardrail !== context.heldBy;
    },
    /** Held past expiry, already marked: the notification is re-asserted (idempotent by job id). */
    holdStillPastExpiry: ({ context, event }) =>
      (holdGate(event)?.expiresWhileHeldAt ?? null) !== null && heldUntilExpiry(context) !== null,
    approvalChanged: ({ context, event }) => {
      const g = tickOf(event)?.gate;
      return g?.kind === 'await_approval' && g.planHash !== context.awaitingPlanHash;
    },
    hasNextAttempt: ({ context }) => context.attempt < (stepOf(context)?.attempts ?? 1),
  },
  actions: {
    startStep: assign(({ context, event }) => {
      const t = tickOf(event);
      const gate = t?.gate.kind === 'go' ? t.gate : null;
      const step = stepOf(context);
      const base = makeActionRunId(context.incidentId, context.step, context.attempt);
      return {
        jobId: context.rerun === 0 ? base : `${base}--r${context.rerun}`,
        deadlineAt: (t?.now ?? 0) + (gate?.jobTimeoutMs ?? step?.jobTimeoutMs ?? 0),
        verifyTimeoutMs: gate?.verifyTimeoutMs ?? step?.verify.timeoutMs ?? 0,
        baselineSerial: gate?.baselineSerial ?? null,
        jobFinishedAt: null,
        awaitingPlanHash: null,
        heldBy: null,
        expiresWhileHeldAt: null,
        reason: `step ${context.step + 1}/${context.steps.length}${context.attempt > 1 ? ` attempt ${context.attempt}` : ''}: ${step?.action ?? '?'} on ${context.subject} (playbook ${context.playbook}, mode ${context.mode})${gate?.note ? `; ${gate.note}` : ''}`,
      };
    }),
    noteGate: assign(({ event }) => {
      const g = tickOf(event)?.gate;
      return {
        reason: g === undefined || g.kind === 'go' ? '' : g.reason,
        awaitingPlanHash: g?.kind === 'await_approval' ? g.planHash : null,
        heldBy: g?.kind === 'hold' ? g.guardrail : null,
        expiresWhileHeldAt: g?.kind === 'hold' ? (g.expiresWhileHeldAt ?? null) : null,
      };
    }),
    noteSkip: assign(({ context, event }) => {
      const g = tickOf(event)?.gate;
      return { reason: `skipped step ${context.step + 1} (${stepOf(context)?.action ?? '?'}): ${g?.kind === 'skip' ? g.reason : ''}` };
    }),
    startVerifying: assign(({ context, event }) => {
      const at = event.type === 'job.finished' ? event.at : 0;
      // The first line only: evidence a job collected (logs) is in its own audit entry, not repeated here.
      const detail = event.type === 'job.finished' ? `${event.result}: ${event.detail.split('\n', 1)[0] ?? ''}` : '';
      return {
        jobFinishedAt: at,
        deadlineAt: at + context.verifyTimeoutMs,
        reason: `job ${context.jobId ?? '?'} ${detail}; verifying ${stepOf(context)?.verify.expect ?? '?'}`,
      };
    }),
    heldJob: assign(({ context, event }) => ({
      rerun: context.rerun + 1,
      jobId: null,
      deadlineAt: null,
      heldBy: 'job_skipped',
      reason: `job ${context.jobId ?? '?'} was held back: ${event.type === 'job.finished' ? event.detail : ''}`,
    })),
    markVerified: assign(({ context, event }) => {
      const t = tickOf(event);
      return {
        deadlineAt: (t?.now ?? 0) + context.verifyTimeoutMs,
        reason: `verified ${stepOf(context)?.verify.expect ?? '?'}: ${t?.verify?.detail ?? ''}`,
      };
    }),
    noteFailure: assign(({ context, event }) => ({
      retryFrom: event.type === 'job.finished' ? event.at : event.type === 'plan.tick' ? event.now : null,
      reason:
        event.type === 'job.finished'
          ? `job ${context.jobId ?? '?'} failed: ${event.detail}`
          : event.type === 'plan.tick' && event.verify !== null
            ? `post-condition ${stepOf(context)?.verify.expect ?? '?'} not met by ${when(context.deadlineAt)}: ${event.verify.detail}`
            : `deadline ${when(context.deadlineAt)} passed in step ${context.step + 1}`,
    })),
    noteUnsettled: assign(({ context }) => ({
      reason: `step ${context.step + 1} verified, but the incident did not clear by ${when(context.deadlineAt)}`,
    })),
    nextAttempt: assign(({ context }) => ({ attempt: context.attempt + 1, jobId: null, deadlineAt: null, jobFinishedAt: null })),
    nextStep: assign(({ context }) => ({
      step: context.step + 1,
      attempt: 1,
      rerun: 0,
      jobId: null,
      deadlineAt: null,
      jobFinishedAt: null,
      retryFrom: null,
    })),
    updatePlaybook: assign(({ event }) => (event.type === 'playbook.updated' ? { mode: event.mode, steps: event.steps } : {})),
    noteResolved: assign(({ event }) => ({ reason: event.type === 'incident.resolved' ? event.reason : '' })),
    // Effects (see EffectName): described here, performed by the caller.
    enqueueStepJob: effect,
    recordLedgerEntry: effect,
    notifyEscalation: effect,
    notifyHeldPastExpiry: effect,
    auditDecided: effect,
    auditStepSkipped: effect,
    auditHeld: effect,
    auditHeldPastExpiry: effect,
    auditAwaitingApproval: effect,
    auditVerifying: effect,
    auditVerified: effect,
    auditVerifiedByResolution: effect,
    auditVerificationFailed: effect,
    auditEscalated: effect,
  },
}).createMachine({
  id: 'incidentPlan',
  initial: 'ready',
  context: ({ input }) => ({
    ...input,
    step: 0,
    attempt: 1,
    rerun: 0,
    jobId: null,
    deadlineAt: null,
    verifyTimeoutMs: 0,
    jobFinishedAt: null,
    retryFrom: null,
    baselineSerial: null,
    heldBy: null,
    awaitingPlanHash: null,
    expiresWhileHeldAt: null,
    reason: 'incident opened',
  }),
  on: { 'incident.resolved': { target: '.resolved', actions: 'noteResolved' } },
  states: {
    ready: { on: { 'plan.tick': gating('enter'), 'playbook.updated': { actions: 'updatePlaybook' } } },
    held: { on: { 'plan.tick': gating('stay'), 'playbook.updated': { actions: 'updatePlaybook' } } },
    awaitingApproval: { on: { 'plan.tick': gating('enter'), 'playbook.updated': { actions: 'updatePlaybook' } } },
    executing: {
      on: {
        'job.finished': [
          { guard: 'jobFailed', target: 'retrying', actions: 'noteFailure' },
          { guard: 'jobHeld', target: 'held', actions: ['heldJob', fx('auditHeld')] },
          { target: 'verifying', actions: 'startVerifying' },
        ],
        'plan.tick': [
          { guard: 'deadlinePassed', target: 'retrying', actions: 'noteFailure' },
          { actions: [fx('recordLedgerEntry'), fx('enqueueStepJob')] },
        ],
        'incident.resolved': { target: 'resolved', actions: [fx('auditVerifiedByResolution'), 'noteResolved'] },
      },
    },
    verifying: {
      entry: fx('auditVerifying'),
      on: {
        'plan.tick': [
          { guard: 'verified', target: 'verified', actions: 'markVerified' },
          { guard: 'deadlinePassed', target: 'retrying', actions: ['noteFailure', fx('auditVerificationFailed')] },
        ],
        'incident.resolved': { target: 'resolved', actions: [fx('auditVerifiedByResolution'), 'noteResolved'] },
      },
    },
    verified: {
      entry: fx('auditVerified'),
      on: { 'plan.tick': { guard: 'settleDeadlinePassed', target: 'advancing', actions: 'noteUnsettled' } },
    },
    retrying: {
      always: [{ guard: 'hasNextAttempt', target: 'ready', actions: 'nextAttempt' }, { target: 'advancing' }],
    },
    advancing: {
      always: [{ guard: 'hasNextStep', target: 'ready', actions: 'nextStep' }, { target: 'escalated' }],
    },
    escalated: {
      entry: [fx('auditEscalated'), fx('notifyEscalation')],
      on: { 'plan.tick': { actions: fx('notifyEscalation') } },
    },
    resolved: { type: 'final' },
  },
});

/** Names of the effect actions `transition()` returns (plan-effects.ts maps each to its write). */
export type EffectName =
  | 'enqueueStepJob'
  | 'recordLedgerEntry'
  | 'notifyEscalation'
  | 'notifyHeldPastExpiry'
  | 'auditDecided'
  | 'auditStepSkipped'
  | 'auditHeld'
  | 'auditHeldPastExpiry'
  | 'auditAwaitingApproval'
  | 'auditVerifying'
  | 'auditVerified'
  | 'auditVerifiedByResolution'
  | 'auditVerificationFailed'
  | 'auditEscalated';

/**
 * The gate's transitions out of a waiting state. `enter`: from ready/awaitingApproval, where any
 * hold is a new one (audited); `stay`: from held, where only a change of guardrail is audited.
 * A hold that newly outlasts the certificate is escalated (audit and one notification).
 */
function gating(from: 'enter' | 'stay') {
  const skip = { guard: 'gateSkip', target: 'advancing', actions: ['noteSkip', fx('auditStepSkipped')] } as const;
  const approval = [
    { guard: 'approvalChanged', target: 'awaitingApproval', actions: ['noteGate', fx('auditAwaitingApproval')] },
    { guard: 'gateApproval', target: 'awaitingApproval', actions: 'noteGate' },
  ] as const;
  const go = {
    guard: 'gateGo',
    target: 'executing',
    actions: ['startStep', fx('auditDecided'), fx('recordLedgerEntry'), fx('enqueueStepJob')],
  } as const;
  const past = [fx('auditHeldPastExpiry'), fx('notifyHeldPastExpiry')] as const;
  if (from === 'enter')
    return [
      skip,
      { guard: 'holdNewlyPastExpiry', target: 'held', actions: ['noteGate', fx('auditHeld'), ...past] },
      { guard: 'gateHold', target: 'held', actions: ['noteGate', fx('auditHeld')] },
      ...approval,
      go,
    ] as const;
  return [
    skip,
    { guard: 'holdChangedNewlyPastExpiry', target: 'held', actions: ['noteGate', fx('auditHeld'), ...past] },
    { guard: 'holdNewlyPastExpiry', target: 'held', actions: ['noteGate', ...past] },
    { guard: 'holdChanged', target: 'held', actions: ['noteGate', fx('auditHeld')] },
    { guard: 'holdStillPastExpiry', target: 'held', actions: ['noteGate', fx('notifyHeldPastExpiry')] },
    { guard: 'gateHold', target: 'held', actions: 'noteGate' },
    ...approval,
    go,
  ] as const;
}
