import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { initialTransition, transition } from 'xstate';
import { incidentPlanMachine, type IncidentPlanEvent } from '../../../src/plan/incident-plan.machine.js';

const twoSteps = {
  incidentId: 'rotation_failed--shop_web-1--abc', subject: 'shop/web-1', playbook: 'pb', mode: 'auto' as const,
  steps: [
    { action: 'restart_envoy' as const, jobTimeoutMs: 1_000, verifyTimeoutMs: 5_000 },
    { action: 'restart_envoy' as const, jobTimeoutMs: 1_000, verifyTimeoutMs: 5_000 },
  ],
};
const tick = (now: number, paused = false): IncidentPlanEvent => ({ type: 'plan.tick', now, paused, pauseReason: paused ? 'maintenance' : '' });

function run(events: IncidentPlanEvent[]) {
  let [s] = initialTransition(incidentPlanMachine, twoSteps);
  for (const e of events) [s] = transition(incidentPlanMachine, s, e);
  return s;
}

describe('incident plan machine', () => {
  it('a tick starts step 1 with a deterministic job id and a deadline from the injected time', () => {
    const s = run([tick(1_000)]);
    assert.equal(s.value, 'executing');
    assert.equal(s.context.jobId, 'rotation_failed--shop_web-1--abc--s0--a1');
    assert.equal(s.context.deadlineAt, 2_000);
  });

  it('a successful job moves to verifying; resolution then ends the plan', () => {
    const s = run([tick(1_000), { type: 'job.finished', at: 1_200, result: 'succeeded', detail: 'ok' }]);
    assert.equal(s.value, 'verifying');
    assert.equal(s.context.deadlineAt, 6_200);
    const done = transition(incidentPlanMachine, s, { type: 'incident.resolved', at: 2_000, reason: 'new serial' })[0];
    assert.equal(done.value, 'resolved');
    assert.equal(done.status, 'done');
  });

  it('a verification deadline escalates to the next step, then to a person', () => {
    let s = run([tick(1_000), { type: 'job.finished', at: 1_200, result: 'succeeded', detail: 'ok' }, tick(6_199)]);
    assert.equal(s.value, 'verifying');
    s = transition(incidentPlanMachine, s, tick(6_200))[0];
    assert.equal(s.value, 'ready');
    assert.equal(s.context.step, 1);
    s = transition(incidentPlanMachine, s, tick(6_300))[0];
    assert.equal(s.context.jobId, 'rotation_failed--shop_web-1--abc--s1--a1');
    s = transition(incidentPlanMachine, s, { type: 'job.finished', at: 6_400, result: 'failed', detail: 'HTTP 500' })[0];
    assert.equal(s.value, 'escalated');
    assert.match(s.context.reason, /HTTP 500/);
  });

  it('a job that never reports back counts as failed at its deadline', () => {
    const s = run([tick(1_000), tick(1_999)]);
    assert.equal(s.value, 'executing');
    assert.equal(run([tick(1_000), tick(2_000)]).value, 'ready');
  });

  it('while paused nothing starts; resuming starts the same step', () => {
    let s = run([tick(1_000, true), tick(2_000, true)]);
    assert.equal(s.value, 'held');
    assert.equal(s.context.jobId, null);
    s = transition(incidentPlanMachine, s, tick(3_000))[0];
    assert.equal(s.value, 'executing');
    assert.equal(s.context.jobId, 'rotation_failed--shop_web-1--abc--s0--a1');
  });

  it('a persisted snapshot restored from JSON continues without repeating the step', () => {
    const s = run([tick(1_000)]);
    const json = JSON.parse(JSON.stringify({ value: s.value, context: s.context })) as { value: string; context: typeof s.context };
    const restored = incidentPlanMachine.resolveState(json);
    const next = transition(incidentPlanMachine, restored, tick(1_500))[0];
    assert.equal(next.value, 'executing');
    assert.equal(next.context.jobId, s.context.jobId);
  });
});
