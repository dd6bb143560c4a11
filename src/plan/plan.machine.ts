import { assign, fromPromise, setup } from 'xstate';
import { afterFailure, backoffDelayMs, healthyLoop, type StageLoopHealth, type StageLoopInput } from '../knowledge/stage-loop.js';
import type { PlanPassResult } from './reconcile-plans.js';

/** Plan loop settings. */
export type PlanInput = StageLoopInput;

/** Plan loop context. */
export interface PlanContext extends PlanInput, StageLoopHealth {
  readonly passes: number;
  readonly enqueued: number;
}

/** `knowledge.changed`: an incident opened/resolved or a job finished, so reconcile now. */
export type PlanEvent = { readonly type: 'knowledge.changed' };

/**
 * Plan stage loop: idle --(knowledge.changed | interval)--> reconciling --> idle, or `paused`
 * while the kill switch is on (reconciling continues, so held plans and resolutions are still
 * recorded, but the state tells operators nothing new runs). Per-incident logic lives in
 * incident-plan.machine.ts; the `reconcile` actor is supplied by the composition root.
 */
export const planMachine = setup({
  types: { context: {} as PlanContext, events: {} as PlanEvent, input: {} as PlanInput },
  actors: {
    reconcile: fromPromise<PlanPassResult>(() => Promise.reject(new Error('plan: reconcile actor not provided'))),
  },
  delays: {
    interval: ({ context }) => context.intervalMs,
    backoff: ({ context }) => backoffDelayMs(context),
  },
}).createMachine({
  id: 'plan',
  initial: 'reconciling',
  context: ({ input }) => ({ ...input, passes: 0, enqueued: 0, ...healthyLoop }),
  states: {
    idle: { after: { interval: 'reconciling' }, on: { 'knowledge.changed': 'reconciling' } },
    paused: { after: { interval: 'reconciling' }, on: { 'knowledge.changed': 'reconciling' } },
    reconciling: {
      invoke: {
        src: 'reconcile',
        onDone: [
          {
            guard: ({ event }) => event.output.paused,
            target: 'paused',
            actions: assign({ passes: ({ context }) => context.passes + 1, ...healthyLoop }),
          },
          {
            target: 'idle',
            actions: assign({
              passes: ({ context }) => context.passes + 1,
              enqueued: ({ context, event }) => context.enqueued + event.output.enqueued,
            ...healthyLoop,
            }),
          },
        ],
        onError: {
          target: 'backoff',
          actions: assign(({ context, event }) => afterFailure(context, event.error)),
        },
      },
    },
    backoff: { after: { backoff: 'reconciling' } },
  },
});
