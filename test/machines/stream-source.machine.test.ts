import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SimulatedClock, createActor, fromCallback, waitFor } from 'xstate';
import { streamSourceMachine, type StreamSourceEvent } from '../../src/monitor/stream-source.machine.js';

/** A stream actor whose behaviour per connection is scripted; records opens and closes. */
function scripted(script: ((send: (e: StreamSourceEvent) => void) => void)[]) {
  const log = { opened: 0, closed: 0 };
  const stream = fromCallback<StreamSourceEvent, { source: string }>(({ sendBack }) => {
    const step = script[log.opened++];
    queueMicrotask(() => {
      step?.(sendBack);
    });
    return () => {
      log.closed++;
    };
  });
  return { log, machine: streamSourceMachine.provide({ actors: { stream } }) };
}

const input = { source: 'spire.workload:node-1', intervalMs: 1_000, maxBackoffMs: 8_000 };

describe('stream source machine', () => {
  it('connecting -> streaming on the first message, counting messages on one call', async () => {
    const { log, machine } = scripted([
      (send) => {
        send({ type: 'stream.message' });
        send({ type: 'stream.message' });
      },
    ]);
    const actor = createActor(machine, { clock: new SimulatedClock(), input }).start();
    await waitFor(actor, (s) => s.matches({ live: 'streaming' }) && s.context.messages === 2);
    assert.equal(log.opened, 1);
    actor.stop();
    assert.equal(log.closed, 1);
  });

  it('a normal end reconnects at once; a retryable failure backs off doubling, then recovers', async () => {
    const clock = new SimulatedClock();
    const { log, machine } = scripted([
      (send) => {
        send({ type: 'stream.message' });
        send({ type: 'stream.ended' });
      },
      (send) => {
        send({ type: 'stream.failed', error: 'UNAVAILABLE: connect ECONNREFUSED', retryable: true });
      },
      (send) => {
        send({ type: 'stream.failed', error: 'UNAVAILABLE again', retryable: true });
      },
      (send) => {
        send({ type: 'stream.message' });
      },
    ]);
    const actor = createActor(machine, { clock, input }).start();
    await waitFor(actor, (s) => s.matches('backoff') && s.context.consecutiveFailures === 1);
    assert.equal(log.opened, 2);
    assert.equal(actor.getSnapshot().context.lastError, 'UNAVAILABLE: connect ECONNREFUSED');
    clock.increment(1_999);
    assert.equal(log.opened, 2);
    clock.increment(1);
    await waitFor(actor, (s) => s.matches('backoff') && s.context.consecutiveFailures === 2);
    clock.increment(3_999);
    assert.equal(log.opened, 3);
    clock.increment(1);
    await waitFor(actor, (s) => s.matches({ live: 'streaming' }));
    assert.equal(actor.getSnapshot().context.consecutiveFailures, 0);
    assert.equal(log.closed, 3);
    actor.stop();
  });

  it('a failure the protocol says not to retry parks the source until source.retry', async () => {
    const clock = new SimulatedClock();
    const { log, machine } = scripted([
      (send) => {
        send({ type: 'stream.failed', error: 'INVALID_ARGUMENT: security header missing from request', retryable: false });
      },
      (send) => {
        send({ type: 'stream.message' });
      },
    ]);
    const actor = createActor(machine, { clock, input }).start();
    await waitFor(actor, (s) => s.matches('failed'));
    clock.increment(60_000);
    assert.equal(log.opened, 1);
    actor.send({ type: 'source.retry' });
    await waitFor(actor, (s) => s.matches({ live: 'streaming' }));
    assert.equal(log.opened, 2);
    actor.stop();
  });
});
