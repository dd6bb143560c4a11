import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SimulatedClock, createActor, fromPromise, waitFor } from 'xstate';
import { monitorMachine } from '../../src/monitor/monitor.machine.js';
import type { SweepResult } from '../../src/monitor/sweep-envoys.js';

const ok: SweepResult = { probed: 3, failed: 0, changed: 0 };

describe('monitor machine', () => {
  it('polls at start, waits the interval, backs off doubling on failures, and recovers', async () => {
    const clock = new SimulatedClock();
    const outcomes = [ok, new Error('redis down'), new Error('redis down'), ok];
    let calls = 0;
    const machine = monitorMachine.provide({
      actors: {
        sweep: fromPromise(async () => {
          const o = outcomes[calls++] ?? ok;
          await Promise.resolve();
          if (o instanceof Error) throw o;
          return o;
        }),
      },
    });
    const actor = createActor(machine, { clock, input: { intervalMs: 1_000, maxBackoffMs: 10_000 } });
    actor.subscribe({ error: () => undefined });
    actor.start();
    await waitFor(actor, (s) => s.matches('idle'));
    assert.equal(calls, 1);

    clock.increment(999);
    assert.equal(calls, 1);
    clock.increment(1);
    await waitFor(actor, (s) => s.matches('backoff'));
    assert.equal(actor.getSnapshot().context.consecutiveFailures, 1);
    assert.equal(actor.getSnapshot().context.lastError, 'redis down');

    clock.increment(2_000); // 1 failure: interval * 2
    await waitFor(actor, (s) => s.matches('backoff') && s.context.consecutiveFailures === 2);
    clock.increment(3_999); // 2 failures: interval * 4
    assert.equal(calls, 3);
    clock.increment(1);
    await waitFor(actor, (s) => s.matches('idle'));
    assert.equal(calls, 4);
    assert.equal(actor.getSnapshot().context.consecutiveFailures, 0);
    assert.equal(actor.getSnapshot().context.lastError, null);
    actor.stop();
  });

  it('monitor.pollRequested sweeps immediately', async () => {
    let calls = 0;
    const machine = monitorMachine.provide({
      actors: {
        sweep: fromPromise(() => {
          calls++;
          return Promise.resolve(ok);
        }),
      },
    });
    const actor = createActor(machine, { clock: new SimulatedClock(), input: { intervalMs: 60_000, maxBackoffMs: 60_000 } });
    actor.start();
    await waitFor(actor, (s) => s.matches('idle'));
    actor.send({ type: 'monitor.pollRequested' });
    await waitFor(actor, (s) => s.matches('idle') && s.context.sweeps === 2);
    assert.equal(calls, 2);
    actor.stop();
  });
});
