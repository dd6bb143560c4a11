import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Incident } from '../../../src/knowledge/model/incident.js';
import { decidePass, type IncidentDecision } from '../../../src/plan/decide-pass.js';
import type { IncidentFacts, LedgerView, PassFacts } from '../../../src/plan/gather-pass.js';
import type { Guardrails } from '../../../src/plan/playbooks/playbook.js';
import { rotationIncident, subjectFacts } from '../../builders/plan-facts.js';
import { playbook, step } from '../../builders/playbooks.js';

const T0 = 1_800_000_000_000;
const NOW = T0 + 30_000;
const subject = 'shop/web-1';
const second: Incident = rotationIncident(subject, NOW - 500, 'stuck again');
/** The first incident's restart, 28 s ago: the 5-minute cooldown holds the second until T0 + 5m. */
const acted: LedgerView = { playbookInWindow: 1, subjectInWindow: 1, lastOnSubject: { at: NOW - 28_000, incidentId: 'first' } };
const facts = (expiresAt: number | null, lifetimeMs = 8_000): IncidentFacts['facts'] =>
  subjectFacts(subject, { expiresAt, lifetimeMs, leafSerial: 'aa' });
const input = (expiresAt: number | null, saved: IncidentFacts['saved'] = null, now = NOW): PassFacts => ({
  now,
  control: { paused: false, reason: '', since: null },
  storm: { open: null, lastResolvedAt: null },
  groupSizes: { service: new Map(), node: new Map() },
  inFlight: [],
  incidents: [
    {
      incident: second,
      saved,
      facts: facts(expiresAt),
      jobRun: null,
      ledger: acted,
      approval: null,
      observations: null,
      remediation: null,
    },
  ],
});
const ladder = [step({ jobTimeoutMs: 2_000, verify: { expect: 'incident_resolved', timeoutMs: 3_000 } })];
const decide = (pass: PassFacts, guardrails: Partial<Guardrails> = {}): IncidentDecision => {
  const playbooks = [
    playbook({
      steps: ladder,
      escalate: { webhook: 'http://127.0.0.1:9/hook', timeoutMs: 1_000 },
      guardrails: { cooldownMs: 300_000, ...guardrails },
    }),
  ];
  const [d] = decidePass(pass, { playbooks, rotation: { rotateAtFraction: 0.5, graceMs: 1_000 } });
  assert.ok(d !== undefined);
  return d;
};
const audits = (d: IncidentDecision): string[] => d.effects.flatMap((e) => (e.kind === 'audit' ? [e.event.type] : []));
const jobs = (d: IncidentDecision): string[] => d.effects.flatMap((e) => (e.kind === 'job' ? [`${e.request.action} ${e.request.id}`] : []));

describe('a guardrail hold that outlasts the certificate is never silent (pure)', () => {
  it('a cooldown past the expiry: held, marked with the expiry, escalated with one notification', () => {
    const expiresAt = NOW + 4_000;
    const d = decide(input(expiresAt));
    assert.equal(d.after?.value, 'held');
    assert.equal(d.after.context.heldBy, 'cooldown');
    assert.equal(d.after.context.expiresWhileHeldAt, expiresAt);
    assert.equal(d.remediation?.expiresWhileHeldAt, expiresAt);
    assert.deepEqual(audits(d), ['plan.held', 'plan.escalated']);
    assert.deepEqual(jobs(d), [`notify ${second.id}--held-s0--escalate`]);

    // The next passes keep it held and marked; no second escalation (the notification is re-asserted under the same job id).
    const again = decide(input(expiresAt, d.save ?? null, NOW + 1_000));
    assert.equal(again.after?.value, 'held');
    assert.deepEqual(audits(again), []);
    assert.deepEqual(jobs(again), [`notify ${second.id}--held-s0--escalate`]);
  });

  it('a cooldown that ends while the ladder still fits before the expiry is an ordinary hold', () => {
    // Cooldown ends at NOW + 272 s; the ladder needs 8 s; the certificate lives an hour more.
    const d = decide(input(NOW + 3_600_000));
    assert.equal(d.after?.value, 'held');
    assert.equal(d.after.context.expiresWhileHeldAt, null);
    assert.equal(d.remediation?.expiresWhileHeldAt, undefined);
    assert.deepEqual(audits(d), ['plan.held']);
    assert.deepEqual(jobs(d), []);
  });

  it('an unknown expiry is never marked', () => {
    const d = decide(input(null));
    assert.equal(d.after?.value, 'held');
    assert.deepEqual(audits(d), ['plan.held']);
  });

  it('a kill switch (no known end) is marked once the ladder no longer fits before the expiry', () => {
    const paused = (expiresAt: number): PassFacts => ({ ...input(expiresAt), control: { paused: true, reason: 'freeze', since: T0 } });
    const early = decide(paused(NOW + 60_000), { cooldownMs: 0 });
    assert.deepEqual([early.after?.context.heldBy, early.after?.context.expiresWhileHeldAt], ['kill_switch', null]);
    const late = decide(paused(NOW + 5_000), { cooldownMs: 0 });
    assert.deepEqual([late.after?.context.heldBy, late.after?.context.expiresWhileHeldAt], ['kill_switch', NOW + 5_000]);
    assert.deepEqual(audits(late), ['plan.held', 'plan.escalated']);
  });

  it('cooldownYieldsToExpiry: the step runs instead, and the decision says why', () => {
    const d = decide(input(NOW + 4_000), { cooldownYieldsToExpiry: true });
    assert.equal(d.after?.value, 'executing');
    assert.match(d.after.context.reason, /the cooldown yields to the certificate's expiry at .*cooldown: shop\/web-1 was acted on 28s ago/);
    assert.deepEqual(jobs(d), [`restart_envoy ${second.id}--s0--a1`]);
    assert.ok(!audits(d).includes('plan.escalated'));
  });

  it('cooldownYieldsToExpiry yields only the cooldown: a budget past the expiry still holds and escalates', () => {
    const d = decide(input(NOW + 4_000), { cooldownYieldsToExpiry: true, maxActionsPerSubject: { count: 1, windowMs: 600_000 } });
    assert.deepEqual(
      [d.after?.value, d.after?.context.heldBy, d.after?.context.expiresWhileHeldAt],
      ['held', 'max_actions_subject', NOW + 4_000],
    );
    assert.deepEqual(audits(d), ['plan.held', 'plan.escalated']);
  });
});
