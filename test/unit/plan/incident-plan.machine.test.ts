import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { initialTransition, transition } from 'xstate';
import { incidentPlanMachine, type IncidentPlanEvent, type StepGate } from '../../../src/plan/incident-plan.machine.js';
import { step } from '../../builders/playbooks.js';

const twoSteps = {
  incidentId: 'rotation_failed--shop_web-1--abc',
  subject: 'shop/web-1',
  playbook: 'pb',
  mode: 'auto' as const,
  steps: [step(), step({ action: 'redeploy' })],
  group: { service: null, node: null },
};
const go: StepGate = { kind: 'go', jobTimeoutMs: 1_000, verifyTimeoutMs: 5_000, baselineSerial: 'aa', note: '' };
const tick = (
  now: number,
  gate: StepGate = go,
  verify: { holds: boolean; detail: string } | null = null,
  recovering = false,
): IncidentPlanEvent => ({ type: 'plan.tick', now, gate, verify, recovering });
const finished = (at: number, result: 'succeeded' | 'failed' | 'skipped', detail = 'ok', held = false): IncidentPlanEvent => ({
  type: 'job.finished',
  at,
  result,
  detail,
  held,
});
const hold = (reason: string): StepGate => ({ kind: 'hold', guardrail: 'kill_switch', reason });

function run(events: IncidentPlanEvent[], input = twoSteps) {
  let [s] = initialTransition(incidentPlanMachine, input);
  for (const e of events) [s] = transition(incidentPlanMachine, s, e);
  return s;
}

describe('incident plan machine', () => {
  it('a go gate starts step 1 with a deterministic job id and a deadline from the injected time', () => {
    const s = run([tick(1_000)]);
    assert.equal(s.value, 'executing');
    assert.equal(s.context.jobId, 'rotation_failed--shop_web-1--abc--s0--a1');
    assert.equal(s.context.deadlineAt, 2_000);
    assert.equal(s.context.baselineSerial, 'aa');
  });

  it('a finished job moves to verifying; the post-condition verifies; resolution ends the plan', () => {
    let s = run([tick(1_000), finished(1_200, 'succeeded')]);
    assert.equal(s.value, 'verifying');
    assert.equal(s.context.deadlineAt, 6_200);
    s = transition(incidentPlanMachine, s, tick(1_500, go, { holds: false, detail: 'same serial' }))[0];
    assert.equal(s.value, 'verifying');
    s = transition(incidentPlanMachine, s, tick(2_000, go, { holds: true, detail: 'new serial bb' }))[0];
    assert.equal(s.value, 'verified');
    const done = transition(incidentPlanMachine, s, { type: 'incident.resolved', at: 2_500, reason: 'healthy' })[0];
    assert.equal(done.status, 'done');
  });

  it('a verification deadline moves to the next step, then escalates to a person', () => {
    let s = run([tick(1_000), finished(1_200, 'succeeded'), tick(6_199, go, { holds: false, detail: 'x' })]);
    assert.equal(s.value, 'verifying');
    s = transition(incidentPlanMachine, s, tick(6_200, go, { holds: false, detail: 'still old serial' }))[0];
    assert.equal(s.value, 'ready');
    assert.equal(s.context.step, 1);
    s = transition(incidentPlanMachine, s, tick(6_300))[0];
    assert.equal(s.context.jobId, 'rotation_failed--shop_web-1--abc--s1--a1');
    s = transition(incidentPlanMachine, s, finished(6_400, 'failed', 'HTTP 500'))[0];
    assert.equal(s.value, 'escalated');
    assert.match(s.context.reason, /HTTP 500/);
  });

  it('a failing precondition skips the step: the diagnosis picks where the ladder starts', () => {
    const s = run([tick(1_000, { kind: 'skip', reason: 'precondition not met: diagnosed cause envoy_sds_stuck' }), tick(1_001)]);
    assert.equal(s.value, 'executing');
    assert.equal(s.context.step, 1);
    assert.equal(s.context.jobId, 'rotation_failed--shop_web-1--abc--s1--a1');
  });

  it('a step with attempts left retries under a new job id, recording when it failed', () => {
    const input = { ...twoSteps, steps: [step({ attempts: 2 }), step()] };
    const s = run([tick(1_000), finished(1_100, 'failed', 'timeout'), tick(1_200)], input);
    assert.equal(s.context.step, 0);
    assert.equal(s.context.attempt, 2);
    assert.equal(s.context.retryFrom, 1_100);
    assert.equal(s.context.jobId, 'rotation_failed--shop_web-1--abc--s0--a2');
  });

  it('a job that never reports back counts as failed at its deadline', () => {
    assert.equal(run([tick(1_000), tick(1_999)]).value, 'executing');
    assert.equal(run([tick(1_000), tick(2_000)]).value, 'ready');
  });

  it('held by a guardrail nothing starts; when it lifts the same step starts', () => {
    let s = run([tick(1_000, hold('kill switch on: maintenance')), tick(2_000, hold('kill switch on: maintenance'))]);
    assert.equal(s.value, 'held');
    assert.equal(s.context.heldBy, 'kill_switch');
    assert.equal(s.context.jobId, null);
    s = transition(incidentPlanMachine, s, tick(3_000))[0];
    assert.equal(s.value, 'executing');
    assert.equal(s.context.jobId, 'rotation_failed--shop_web-1--abc--s0--a1');
  });

  it('a job skipped by the kill switch runs the same attempt again later under a fresh id', () => {
    const s = run([tick(1_000), finished(1_100, 'skipped', 'remediation is paused: drill', true), tick(1_200)]);
    assert.equal(s.value, 'executing');
    assert.deepEqual([s.context.step, s.context.attempt], [0, 1]);
    assert.equal(s.context.jobId, 'rotation_failed--shop_web-1--abc--s0--a1--r1');
  });

  it('waits for approval, then runs', () => {
    let s = run([tick(1_000, { kind: 'await_approval', planHash: 'abc123', reason: 'waiting for approval' })]);
    assert.equal(s.value, 'awaitingApproval');
    assert.equal(s.context.awaitingPlanHash, 'abc123');
    s = transition(incidentPlanMachine, s, tick(2_000))[0];
    assert.equal(s.value, 'executing');
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
