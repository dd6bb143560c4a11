import { assign, fromPromise, setup } from 'xstate';
import { errorMessage } from '../knowledge/error-text.js';
import type { RemediationRequest } from '../knowledge/model/action-run.js';
import { retryClassOf, type RetryClass } from '../knowledge/errors/classified-error.js';
import type { Precheck } from './action.js';

/** Terminal result of one job. */
export interface JobOutcome {
  readonly result: 'succeeded' | 'skipped' | 'failed';
  readonly detail: string;
  /** Whether the effect was actually performed (false for skipped, shadow and failed prechecks). */
  readonly performed: boolean;
  /** Skipped by a gate (kill switch, storm) rather than by the target's state. */
  readonly held?: boolean;
  /** A failure whose retry class is retryable (timeout, 5xx, Unavailable): the queue retries while deliveries are left. */
  readonly transient?: boolean;
  /** A failure whose retry class is permanent (PermissionDenied, NotFound, InvalidArgument, bad params): never delivered again. */
  readonly permanent?: boolean;
  /** Not terminal: the run went back to queued and the queue delivers the job again after its backoff. */
  readonly retry?: boolean;
}

/** The two effects of a job, bound to its action, context and abort signal by the processor. */
export interface JobEffects {
  /** Gate checks, then the action's live precheck. */
  readonly check: () => Promise<Precheck>;
  /** The action's effect. */
  readonly perform: () => Promise<string>;
}

/** Job machine context. */
export interface RemediationJobContext {
  readonly job: RemediationRequest;
  readonly effects: JobEffects;
  readonly detail: string;
  readonly performed: boolean;
  readonly result: JobOutcome['result'];
  readonly held: boolean;
  /** The retry class of the failure, null while nothing failed. */
  readonly failure: RetryClass | null;
}

/**
 * One remediation job: checking --proceed--> acting --> succeeded
 *                        |  target healthy / paused      | error
 *                        v                               v
 *                     skipped                          failed
 * Shadow jobs go from checking straight to succeeded with performed=false: every decision and
 * audit entry is the same as in auto mode, only the effect is not applied. A failure is transient
 * or permanent by its retry class alone (retryClassOf: the class its adapter or action gave it).
 */
export const remediationJobMachine = setup({
  types: { context: {} as RemediationJobContext, input: {} as { job: RemediationRequest; effects: JobEffects }, output: {} as JobOutcome },
  actors: {
    // The effects come with the input, so one machine serves every job (no per-job provide()).
    checkPreconditions: fromPromise<Precheck, JobEffects>(({ input }) => input.check()),
    performEffect: fromPromise<string, JobEffects>(({ input }) => input.perform()),
  },
}).createMachine({
  id: 'remediationJob',
  initial: 'checking',
  context: ({ input }) => ({
    job: input.job,
    effects: input.effects,
    detail: '',
    performed: false,
    result: 'failed',
    held: false,
    failure: null,
  }),
  states: {
    checking: {
      invoke: {
        src: 'checkPreconditions',
        input: ({ context }) => context.effects,
        onDone: [
          {
            guard: ({ event }) => !event.output.proceed,
            target: 'skipped',
            actions: assign({
              result: 'skipped',
              detail: ({ event }) => event.output.detail,
              held: ({ event }) => !event.output.proceed && event.output.held === true,
            }),
          },
          {
            guard: ({ context }) => context.job.shadow,
            target: 'succeeded',
            actions: assign({ result: 'succeeded', detail: ({ event }) => `shadow: would act (${event.output.detail}); not performed` }),
          },
          { target: 'acting', actions: assign({ detail: ({ event }) => event.output.detail }) },
        ],
        onError: {
          target: 'failed',
          actions: assign({
            detail: ({ event }) =>
              `precondition check failed${retryClassOf(event.error) === 'permanent' ? ' (permanent, not retried)' : ''}: ${errorMessage(event.error)}`,
            failure: ({ event }) => retryClassOf(event.error),
          }),
        },
      },
    },
    acting: {
      invoke: {
        src: 'performEffect',
        input: ({ context }) => context.effects,
        onDone: { target: 'succeeded', actions: assign({ result: 'succeeded', detail: ({ event }) => event.output, performed: true }) },
        onError: {
          target: 'failed',
          actions: assign({
            detail: ({ event }) =>
              `action failed${retryClassOf(event.error) === 'permanent' ? ' (permanent, not retried)' : ''}: ${errorMessage(event.error)}`,
            failure: ({ event }) => retryClassOf(event.error),
          }),
        },
      },
    },
    succeeded: { type: 'final' },
    skipped: { type: 'final' },
    failed: { type: 'final' },
  },
  output: ({ context }) => ({
    result: context.result,
    detail: context.detail,
    performed: context.performed,
    ...(context.held ? { held: true } : {}),
    ...(context.failure === 'retryable' ? { transient: true } : {}),
    ...(context.failure === 'permanent' ? { permanent: true } : {}),
  }),
});
