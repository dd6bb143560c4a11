import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SimulatedClock, createActor, fromPromise, waitFor } from 'xstate';
import { planMachine, type PlanFocus } from '../../src/plan/plan.machine.js';
import type { PlanPassResult } from '../../src/plan/reconcile-plans.js';

const result: PlanPassResult = { incidents: 0, enqueued: 0, paused: false, phases: {}, held: {} };

describe('plan machine', () => {
  it('a nudge naming incidents reconciles just them; nudges during a pass start the next one at once; the interval visits every plan', async () => {
    const clock = new SimulatedClock();
    const passes: PlanFocus[] = [];
    const gate: { release: (() => void) | null } = { release: null };
    const machine = planMachine.provide({
      actors: {
        reconcile: fromPromise<PlanPassResult, { focus: PlanFocus }>(async ({ input }) => {
          passes.push(input.focus);
          await new Promise<void>((r) => {
            gate.release = r;
          });
          return result;
        }),
      },
    });
    const actor = createActor(machine, { clock, input: { intervalMs: 2_000, maxBackoffMs: 10_000 } });
    actor.subscribe({ error: () => undefined });
    actor.start();
    const finishPass = async (): Promise<void> => {
      const r = gate.release;
      gate.release = null;
      r?.();
      await waitFor(actor, (s) => !s.matches('reconciling') || passes.length > 0);
      await new Promise((r2) => setImmediate(r2));
    };

    assert.deepEqual(passes, [null], 'the first pass visits every plan');
    // Two incidents open while that pass runs: kept, and reconciled right after it.
    actor.send({ type: 'knowledge.changed', incidentIds: ['a'] });
    actor.send({ type: 'knowledge.changed', incidentIds: ['b', 'a'] });
    await finishPass();
    assert.deepEqual(passes, [null, ['a', 'b']]);
    await finishPass();
    await waitFor(actor, (s) => s.matches('idle'));

    // Idle: a nudge naming an incident starts a pass over just it.
    actor.send({ type: 'knowledge.changed', incidentIds: ['c'] });
    assert.deepEqual(passes.at(-1), ['c']);
    // A nudge without ids during that pass makes the next one visit every plan.
    actor.send({ type: 'knowledge.changed', incidentIds: ['d'] });
    actor.send({ type: 'knowledge.changed' });
    await finishPass();
    assert.deepEqual(passes.at(-1), null);
    await finishPass();
    await waitFor(actor, (s) => s.matches('idle'));

    // The interval's pass visits every plan.
    const before = passes.length;
    clock.increment(2_000);
    assert.equal(passes.length, before + 1);
    assert.equal(passes.at(-1), null);
    await finishPass();
    actor.stop();
  });
});
