import { assign, fromCallback, setup } from 'xstate';
import { afterFailure, backoffDelayMs, healthyLoop, type StageLoopHealth } from '../knowledge/stage-loop.js';

/** Settings of one streaming source (a Workload API or Delegated Identity stream, a watch). */
export interface StreamSourceInput {
  /** Source name for observations and metrics, e.g. "spire.workload:node-1". */
  readonly source: string;
  /** First retry delay; doubles per consecutive failure up to maxBackoffMs. */
  readonly intervalMs: number;
  readonly maxBackoffMs: number;
}

/** Context: health plus counters. */
export interface StreamSourceContext extends StreamSourceInput, StageLoopHealth {
  readonly messages: number;
  readonly connects: number;
}

/**
 * What the `stream` actor reports back:
 * - `stream.message`: the server sent (full) state; the actor itself records it in knowledge;
 * - `stream.ended`: the server closed the stream normally (reconnect at once, as the spec asks);
 * - `stream.failed`: an error; `retryable: false` for codes the protocol says never to retry
 *   (e.g. InvalidArgument, Unimplemented), which parks the source in `failed`.
 */
export type StreamSourceEvent =
  | { readonly type: 'stream.message' }
  | { readonly type: 'stream.ended' }
  | { readonly type: 'stream.failed'; readonly error: string; readonly retryable: boolean }
  | { readonly type: 'source.retry' };

/**
 * One streaming source:
 *
 *   live.connecting --first message--> live.streaming --ended--> live.connecting (new call)
 *       | failed (retryable)                | failed (retryable)
 *       v                                   v
 *     backoff --after delay--> live.connecting       any failure not retryable --> failed
 *
 * `failed` waits for `source.retry` (an operator or a config reload). The `stream` actor is a
 * callback actor supplied by the composition root; it is stopped whenever its state is left,
 * which closes the underlying call.
 */
export const streamSourceMachine = setup({
  types: { context: {} as StreamSourceContext, events: {} as StreamSourceEvent, input: {} as StreamSourceInput },
  actors: {
    stream: fromCallback<StreamSourceEvent, { source: string }>(({ sendBack }) => {
      sendBack({ type: 'stream.failed', error: 'monitor: stream actor not provided', retryable: false });
    }),
  },
  guards: {
    retryable: ({ event }) => event.type === 'stream.failed' && event.retryable,
  },
  delays: {
    backoff: ({ context }) => backoffDelayMs(context),
  },
  actions: {
    countMessage: assign({ messages: ({ context }) => context.messages + 1 }),
    recordFailure: assign(({ context, event }) => (event.type === 'stream.failed' ? afterFailure(context, event.error) : {})),
  },
}).createMachine({
  id: 'streamSource',
  initial: 'live',
  context: ({ input }) => ({ ...input, ...healthyLoop, messages: 0, connects: 0 }),
  // One invocation spans connecting and streaming, so the first message does not reopen the call.
  states: {
    live: {
      entry: assign({ connects: ({ context }) => context.connects + 1 }),
      invoke: { src: 'stream', input: ({ context }) => ({ source: context.source }) },
      initial: 'connecting',
      states: {
        connecting: { on: { 'stream.message': { target: 'streaming', actions: ['countMessage', assign({ ...healthyLoop })] } } },
        streaming: { on: { 'stream.message': { actions: 'countMessage' } } },
      },
      on: {
        'stream.ended': { target: 'live', reenter: true },
        'stream.failed': [
          { guard: 'retryable', target: 'backoff', actions: 'recordFailure' },
          { target: 'failed', actions: 'recordFailure' },
        ],
      },
    },
    backoff: { after: { backoff: 'live' } },
    failed: { on: { 'source.retry': { target: 'live', actions: assign({ ...healthyLoop }) } } },
  },
});
