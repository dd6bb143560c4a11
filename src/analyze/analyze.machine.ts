import { assign, fromPromise, setup } from 'xstate';
import { afterFailure, backoffDelayMs, healthyLoop, type StageLoopHealth, type StageLoopInput } from '../knowledge/stage-loop.js';
import type { AnalysisPassResult } from './run-analysis.js';

/** Analyze settings. */
export type AnalyzeInput = StageLoopInput;

/** Analyze context: totals across passes and the last failure. */
export interface AnalyzeContext extends AnalyzeInput, StageLoopHealth {
  readonly passes: number;
  readonly opened: number;
  readonly resolved: number;
  /** Knowledge changed while a pass was running: run another pass right after. */
  readonly rerun: boolean;
}

/** `knowledge.changed`: monitor recorded a changed observation, so evaluate now. */
export type AnalyzeEvent = { readonly type: 'knowledge.changed' };

/**
 * Analyze stage: idle --(knowledge.changed | after interval)--> evaluating --> idle.
 * The evaluation itself is `runAnalysisPass` (pure decisions applied to knowledge), supplied as
 * the `evaluate` actor. A failed pass backs off; nothing is lost because the next pass reads
 * the whole state again (level-based).
 */
export const analyzeMachine = setup({
  types: { context: {} as AnalyzeContext, events: {} as AnalyzeEvent, input: {} as AnalyzeInput },
  actors: {
    evaluate: fromPromise<AnalysisPassResult>(() => Promise.reject(new Error('analyze: evaluate actor not provided'))),
  },
  delays: {
    interval: ({ context }) => context.intervalMs,
    backoff: ({ context }) => backoffDelayMs(context),
  },
}).createMachine({
  id: 'analyze',
  initial: 'evaluating',
  context: ({ input }) => ({ ...input, passes: 0, opened: 0, resolved: 0, ...healthyLoop, rerun: false }),
  states: {
    idle: {
      after: { interval: 'evaluating' },
      on: { 'knowledge.changed': 'evaluating' },
    },
    evaluating: {
      on: { 'knowledge.changed': { actions: assign({ rerun: true }) } },
      invoke: {
        src: 'evaluate',
        onDone: {
          target: 'settling',
          actions: assign({
            passes: ({ context }) => context.passes + 1,
            opened: ({ context, event }) => context.opened + event.output.opened,
            resolved: ({ context, event }) => context.resolved + event.output.resolved,
            ...healthyLoop,
          }),
        },
        onError: {
          target: 'backoff',
          actions: assign(({ context, event }) => afterFailure(context, event.error)),
        },
      },
    },
    settling: {
      always: [{ guard: ({ context }) => context.rerun, target: 'evaluating', actions: assign({ rerun: false }) }, { target: 'idle' }],
    },
    backoff: { after: { backoff: 'evaluating' } },
  },
});
