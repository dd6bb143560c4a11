import { assign, fromPromise, setup } from 'xstate';
import { afterFailure, backoffDelayMs, healthyLoop, type StageLoopHealth, type StageLoopInput } from '../knowledge/stage-loop.js';
import type { PlanPassResult } from './reconcile-plans.js';

/** Plan loop settings. */
export type PlanInput = StageLoopInput;

/** Which incidents a pass reconciles: every live plan (null), or only these incidents. */
export type PlanFocus = readonly string[] | null;

/** Plan loop context. */
export interface PlanContext extends PlanInput, StageLoopHealth {
  readonly passes: number;
  readonly enqueued: number;
  /** What the pass in progress (or the next one) reconciles. */
  readonly focus: PlanFocus;
  /** Nudges that arrived during a pass, for the pass right after it: every plan, or these incidents. */
  readonly pendingAll: boolean;
  readonly pendingIds: readonly string[];
}

/**
 * `knowledge.changed`: an incident opened/resolved or a job finished, so reconcile now. With
 * `incidentIds`, only those incidents changed: the pass reconciles just them (the interval's pass
 * still visits every plan, for deadlines and verification).
 */
export type PlanEvent = { readonly type: 'knowledge.changed'; readonly incidentIds?: readonly string[] };

const focusOf = (e: PlanEvent): PlanFocus => (e.incidentIds === undefined ? null : e.incidentIds);

/**
 * Plan stage loop: idle --(knowledge.changed | interval)--> reconciling --> idle, or `paused`
 * while the kill switch is on (reconciling continues, so held plans and resolutions are still
 * recorded, but the state tells operators nothing new runs). A nudge naming incidents starts a
 * pass over just those (an incident that opens is acted on at once, however many are open); a
 * nudge during a pass is kept and starts the next pass as soon as it ends. Passes never overlap,
 * so guardrail counts stay exact. Per-incident logic lives in incident-plan.machine.ts; the
 * `reconcile` actor (input: the focus) is supplied by the composition root.
 */
export const planMachine = setup({
  types: { context: {} as PlanContext, events: {} as PlanEvent, input: {} as PlanInput },
  actors: {
    reconcile: fromPromise<PlanPassResult, { readonly focus: PlanFocus }>(() =>
      Promise.reject(new Error('plan: reconcile actor not provided')),
    ),
  },
  actions: {
    focusAll: assign({ focus: null }),
    focusOnEvent: assign({ focus: ({ event }) => focusOf(event) }),
    keepNudge: assign(({ context, event }) => {
      const ids = focusOf(event);
      return ids === null ? { pendingAll: true } : { pendingIds: [...context.pendingIds, ...ids] };
    }),
    focusOnPending: assign(({ context }) => ({
      focus: context.pendingAll ? null : [...new Set(context.pendingIds)],
      pendingAll: false,
      pendingIds: [],
    })),
    countPass: assign({
      passes: ({ context }) => context.passes + 1,
      enqueued: ({ context, event }) => context.enqueued + ((event as { output?: PlanPassResult }).output?.enqueued ?? 0),
      ...healthyLoop,
    }),
  },
  guards: {
    paused: ({ event }) => (event as { output?: PlanPassResult }).output?.paused === true,
    nudgedDuringPass: ({ context }) => context.pendingAll || context.pendingIds.length > 0,
  },
  delays: {
    interval: ({ context }) => context.intervalMs,
    backoff: ({ context }) => backoffDelayMs(context),
  },
}).createMachine({
  id: 'plan',
  initial: 'reconciling',
  context: ({ input }) => ({ ...input, passes: 0, enqueued: 0, focus: null, pendingAll: false, pendingIds: [], ...healthyLoop }),
  states: {
    idle: {
      after: { interval: { target: 'reconciling', actions: 'focusAll' } },
      on: { 'knowledge.changed': { target: 'reconciling', actions: 'focusOnEvent' } },
    },
    paused: {
      after: { interval: { target: 'reconciling', actions: 'focusAll' } },
      on: { 'knowledge.changed': { target: 'reconciling', actions: 'focusOnEvent' } },
    },
    reconciling: {
      on: { 'knowledge.changed': { actions: 'keepNudge' } },
      invoke: {
        src: 'reconcile',
        input: ({ context }) => ({ focus: context.focus }),
        onDone: [
          { guard: 'nudgedDuringPass', target: 'reconciling', reenter: true, actions: ['countPass', 'focusOnPending'] },
          { guard: 'paused', target: 'paused', actions: 'countPass' },
          { target: 'idle', actions: 'countPass' },
        ],
        onError: {
          target: 'backoff',
          actions: assign(({ context, event }) => afterFailure(context, event.error)),
        },
      },
    },
    backoff: {
      on: { 'knowledge.changed': { actions: 'keepNudge' } },
      // After a failure, the next pass visits every plan (the nudges kept are covered by it).
      after: { backoff: { target: 'reconciling', actions: ['focusAll', assign({ pendingAll: false, pendingIds: [] })] } },
    },
  },
});
