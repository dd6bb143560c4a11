import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { makeIncidentId, type Incident } from '../../../src/knowledge/model/incident.js';
import { decidePass } from '../../../src/plan/decide-pass.js';
import type { IncidentFacts, PassFacts } from '../../../src/plan/gather-pass.js';
import type { Guardrails } from '../../../src/plan/playbooks/playbook.js';
import { rotationIncident, subjectFacts } from '../../builders/plan-facts.js';
import { playbook } from '../../builders/playbooks.js';

const T0 = 1_800_000_000_000;
const incident = (subject: string, openedAt: number): Incident => rotationIncident(subject, openedAt);
const facts = subjectFacts;
/** A new incident as the read phase gives it: no plan yet, an empty ledger. */
const fresh = (i: Incident): IncidentFacts => ({
  incident: i,
  saved: null,
  facts: facts(i.subject),
  jobRun: null,
  ledger: { playbookInWindow: 0, subjectInWindow: 0, lastOnSubject: null },
  approval: null,
  observations: null,
  remediation: null,
});
const pass = (incidents: IncidentFacts[]): PassFacts => ({
  now: T0 + 1_000,
  control: { paused: false, reason: '', since: null },
  storm: { open: null, lastResolvedAt: null },
  groupSizes: { service: new Map(), node: new Map() },
  inFlight: [],
  incidents,
});
const decide = (incidents: IncidentFacts[], guardrails: Partial<Guardrails>) => {
  const playbooks = [playbook({ guardrails })];
  return decidePass(pass(incidents), { playbooks, rotation: { rotateAtFraction: 0.5, graceMs: 1_000 } });
};

describe('one plan pass decides its incidents as a fold (pure)', () => {
  it('two incidents against a playbook budget of 1: the older is decided, the other held with the budget reason', () => {
    const older = incident('shop/web-1', T0);
    const newer = incident('shop/web-2', T0 + 10);
    // Given newest first: the order of the pass is by opening time, not by how the incidents were read.
    const out = decide([fresh(newer), fresh(older)], { maxActionsPerPlaybook: { count: 1, windowMs: 60_000 } });
    assert.deepEqual(
      out.map((d) => [d.incident.subject, d.after?.value, d.after?.context.heldBy]),
      [
        ['shop/web-1', 'executing', null],
        ['shop/web-2', 'held', 'max_actions_playbook'],
      ],
    );
    assert.match(out[1]?.after?.context.reason ?? '', /^budget: playbook pb took 1 actions in the last 1m0s \(max 1\)/);
    const jobs = out.flatMap((d) => d.effects.flatMap((e) => (e.kind === 'job' ? [e.request.target] : [])));
    assert.deepEqual(jobs, ['shop/web-1'], 'exactly one job');
    const ledger = out.flatMap((d) => d.effects.filter((e) => e.kind === 'ledger'));
    assert.equal(ledger.length, 1, 'exactly one ledger entry');
    const held = out[1]?.effects.flatMap((e) => (e.kind === 'audit' ? [e.event.type] : []));
    assert.deepEqual(held, ['plan.held']);
  });

  it('carries the in-flight tally forward: maxConcurrent 1 lets one of two start', () => {
    const out = decide([fresh(incident('shop/web-1', T0)), fresh(incident('shop/web-2', T0))], { maxConcurrent: 1 });
    assert.deepEqual(
      out.map((d) => [d.after?.value, d.after?.context.heldBy]),
      [
        ['executing', null],
        ['held', 'max_concurrent'],
      ],
    );
  });

  it('carries the cooldown forward: a second incident on the same subject waits for the first one’s action', () => {
    const a = incident('shop/web-1', T0);
    const b: Incident = { ...incident('shop/web-1', T0 + 5), type: 'mtls_errors', id: makeIncidentId('mtls_errors', 'shop/web-1', T0 + 5) };
    const playbooks = [playbook({ match: { types: ['rotation_failed', 'mtls_errors'] }, guardrails: { cooldownMs: 60_000 } })];
    const out = decidePass(pass([fresh(b), fresh(a)]), { playbooks, rotation: { rotateAtFraction: 0.5, graceMs: 1_000 } });
    assert.deepEqual(
      out.map((d) => [d.incident.type, d.after?.value, d.after?.context.heldBy]),
      [
        ['rotation_failed', 'executing', null],
        ['mtls_errors', 'held', 'cooldown'],
      ],
    );
  });

  it('without a budget both are decided (the hold above comes from the budget, not from the pass)', () => {
    const out = decide([fresh(incident('shop/web-1', T0)), fresh(incident('shop/web-2', T0 + 10))], {});
    assert.deepEqual(
      out.map((d) => d.after?.value),
      ['executing', 'executing'],
    );
  });
});
