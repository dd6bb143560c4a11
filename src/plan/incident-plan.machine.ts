import { assign, setup } from 'xstate';
import { makeActionRunId } from '../knowledge/model/action-run.js';
import type { PlaybookMode, PlaybookStep } from './playbooks/playbook.js';

/** Plan machine input: the incident and the playbook chosen for it. */
export interface IncidentPlanInput {
  readonly incidentId: string;
  readonly subject: string;
  readonly playbook: string;
  readonly mode: PlaybookMode;
  readonly steps: readonly PlaybookStep[];
}

/**
 * Context is plain data so the snapshot persists as JSON. Deadlines are absolute times kept as
 * data and checked on `plan.tick` (xstate `after` timers are not restored after a restart).
 */
export interface IncidentPlanContext extends IncidentPlanInput {
  /** Index of the current step in `steps`. */
  readonly step: number;
  readonly attempt: number;
  /** Job id of the step in flight (deterministic from incident, step, attempt). */
  readonly jobId: string | null;
  readonly deadlineAt: number | null;
  /** Why the last transition happened, in words (audited). */
  readonly reason: string;
}

/** Events: all carry the time they refer to; the machine never reads a clock. */
export type IncidentPlanEvent =
  | { readonly type: 'plan.tick'; readonly now: number; readonly paused: boolean; readonly pauseReason: string }
  | { readonly type: 'job.finished'; readonly at: number; readonly result: 'succeeded' | 'failed' | 'skipped'; readonly detail: string }
  | { readonly type: 'incident.resolved'; readonly at: number; readonly reason: string };

/** Persisted form of the machine state. */
export interface IncidentPlanSnapshot {
  readonly value: string;
  readonly context: IncidentPlanContext;
}

function currentStep(c: IncidentPlanContext): PlaybookStep | undefined {
  return c.steps[c.step];
}

/**
 * Per-incident remediation ladder, used as a pure reducer (`transition()`):
 *
 *   ready --tick--> executing --job succeeded/skipped--> verifying --resolved--> resolved
 *     |  (paused)      | job failed / job deadline         | verify deadline
 *     v                v                                    v
 *   held            advancing --more steps--> ready    advancing --no steps left--> escalated
 *
 * `incident.resolved` ends the plan from any state. `escalated` means a person is needed.
 * Side effects (enqueue the job, audit) are derived by the caller from the resulting state, and
 * are idempotent by job id, so re-running after a crash repeats no step.
 */
export const incidentPlanMachine = setup({
  types: { context: {} as IncidentPlanContext, events: {} as IncidentPlanEvent, input: {} as IncidentPlanInput },
  guards: {
    isPaused: ({ event }) => event.type === 'plan.tick' && event.paused,
    deadlinePassed: ({ context, event }) => event.type === 'plan.tick' && context.deadlineAt !== null && event.now >= context.deadlineAt,
    jobFailed: ({ event }) => event.type === 'job.finished' && event.result === 'failed',
    hasNextStep: ({ context }) => context.step + 1 < context.steps.length,
  },
  actions: {
    startStep: assign(({ context, event }) => {
      const now = event.type === 'plan.tick' ? event.now : 0;
      const step = currentStep(context);
      return {
        jobId: makeActionRunId(context.incidentId, context.step, context.attempt),
        deadlineAt: now + (step?.jobTimeoutMs ?? 0),
        reason: `step ${context.step + 1}/${context.steps.length}: ${step?.action ?? '?'} on ${context.subject} (playbook ${context.playbook}, mode ${context.mode})`,
      };
    }),
    startVerifying: assign(({ context, event }) => {
      const at = event.type === 'job.finished' ? event.at : 0;
      const detail = event.type === 'job.finished' ? event.detail : '';
      return { deadlineAt: at + (currentStep(context)?.verifyTimeoutMs ?? 0), reason: `job ${context.jobId ?? '?'} ${event.type === 'job.finished' ? event.result : ''}: ${detail}; verifying` };
    }),
    nextStep: assign(({ context }) => ({ step: context.step + 1, attempt: 1, jobId: null, deadlineAt: null })),
    noteReason: assign(({ event, context }) => ({
      reason:
        event.type === 'job.finished' ? `job ${context.jobId ?? '?'} failed: ${event.detail}`
        : event.type === 'incident.resolved' ? event.reason
        : event.paused ? `paused: ${event.pauseReason}`
        : `deadline passed at ${context.deadlineAt === null ? '?' : new Date(context.deadlineAt).toISOString()} in step ${context.step + 1}`,
    })),
  },
}).createMachine({
  id: 'incidentPlan',
  initial: 'ready',
  context: ({ input }) => ({ ...input, step: 0, attempt: 1, jobId: null, deadlineAt: null, reason: 'incident opened' }),
  on: { 'incident.resolved': { target: '.resolved', actions: 'noteReason' } },
  states: {
    ready: {
      on: {
        'plan.tick': [
          { guard: 'isPaused', target: 'held', actions: 'noteReason' },
          { target: 'executing', actions: 'startStep' },
        ],
      },
    },
    held: {
      on: {
        'plan.tick': [
          { guard: 'isPaused' },
          { target: 'executing', actions: 'startStep' },
        ],
      },
    },
    executing: {
      on: {
        'job.finished': [
          { guard: 'jobFailed', target: 'advancing', actions: 'noteReason' },
          { target: 'verifying', actions: 'startVerifying' },
        ],
        'plan.tick': { guard: 'deadlinePassed', target: 'advancing', actions: 'noteReason' },
      },
    },
    verifying: {
      on: { 'plan.tick': { guard: 'deadlinePassed', target: 'advancing', actions: 'noteReason' } },
    },
    advancing: {
      always: [
        { guard: 'hasNextStep', target: 'ready', actions: 'nextStep' },
        { target: 'escalated' },
      ],
    },
    escalated: {},
    resolved: { type: 'final' },
  },
});
