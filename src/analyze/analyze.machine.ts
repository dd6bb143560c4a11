import { assign, fromPromise, setup } from 'xstate';
import type { AnalysisPassResult } from './run-analysis.js';

/** Analyze settings. */
export interface AnalyzeInput {
  readonly intervalMs: number;
  readonly maxBackoffMs: number;
}

/** Analyze context: totals across passes and the last failure. */
export interface AnalyzeContext extends AnalyzeInput {
  readonly passes: number;
  readonly opened: number;
  readonly resolved: number;
  readonly consecutiveFailures: number;
  readonly lastError: string | null;
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
    backoff: ({ context }) => Math.min(context.maxBackoffMs, context.intervalMs * 2 ** context.consecutiveFailures),
  },
}).createMachine({
  id: 'analyze',
  initial: 'evaluating',
  context: ({ input }) => ({ ...input, passes: 0, opened: 0, resolved: 0, consecutiveFailures: 0, lastError: null, rerun: false }),
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
            consecutiveFailures: 0,
            lastError: null,
          }),
        },
        onError: {
          target: 'backoff',
          actions: assign({
            consecutiveFailures: ({ context }) => context.consecutiveFailures + 1,
            lastError: ({ event }) => (event.error instanceof Error ? event.error.message : String(event.error)),
          }),
        },
      },
    },
    settling: {
      always: [
        { guard: ({ context }) => context.rerun, target: 'evaluating', actions: assign({ rerun: false }) },
        { target: 'idle' },
      ],
    },
    backoff: { after: { backoff: 'evaluating' } },
  },
});
