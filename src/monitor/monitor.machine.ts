import { assign, fromPromise, setup } from 'xstate';
import { afterFailure, backoffDelayMs, healthyLoop, type StageLoopHealth, type StageLoopInput } from '../knowledge/stage-loop.js';
import type { SweepResult } from './sweep-envoys.js';

/** Monitor settings: how often to sweep, and how far to back off when a sweep itself fails. */
export type MonitorInput = StageLoopInput;

/** Monitor context: counters and the last failure, for status and metrics. */
export interface MonitorContext extends MonitorInput, StageLoopHealth {
  readonly sweeps: number;
  readonly lastResult: SweepResult | null;
}

/** Events the monitor accepts: `monitor.pollRequested` sweeps now instead of waiting. */
export type MonitorEvent = { readonly type: 'monitor.pollRequested' };

/**
 * Monitor stage: idle --after(interval)--> polling --done--> idle.
 * A sweep that fails as a whole (the knowledge store is down) goes to backoff, doubling up to
 * maxBackoffMs; failures of single endpoints are observations inside a successful sweep.
 * The `sweep` actor is a placeholder supplied with `.provide()` by the composition root.
 */
export const monitorMachine = setup({
  types: { context: {} as MonitorContext, events: {} as MonitorEvent, input: {} as MonitorInput },
  actors: {
    sweep: fromPromise<SweepResult>(() => Promise.reject(new Error('monitor: sweep actor not provided'))),
  },
  delays: {
    interval: ({ context }) => context.intervalMs,
    backoff: ({ context }) => backoffDelayMs(context),
  },
}).createMachine({
  id: 'monitor',
  initial: 'polling',
  context: ({ input }) => ({ ...input, sweeps: 0, ...healthyLoop, lastResult: null }),
  states: {
    idle: {
      after: { interval: 'polling' },
      on: { 'monitor.pollRequested': 'polling' },
    },
    polling: {
      invoke: {
        src: 'sweep',
        onDone: {
          target: 'idle',
          actions: assign({ sweeps: ({ context }) => context.sweeps + 1, ...healthyLoop, lastResult: ({ event }) => event.output }),
        },
        onError: {
          target: 'backoff',
          actions: assign(({ context, event }) => afterFailure(context, event.error)),
        },
      },
    },
    backoff: {
      after: { backoff: 'polling' },
    },
  },
});
