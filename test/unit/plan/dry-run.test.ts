import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ControlState } from '../../../src/knowledge/knowledge-store.js';
import { makeIncidentId, type Incident, type IncidentRemediation, type IncidentType } from '../../../src/knowledge/model/incident.js';
import { planDryRun } from '../../../src/plan/dry-run.js';
import { builtInPlaybooks, type Playbook } from '../../../src/plan/playbooks/playbook.js';

const T0 = 1_800_000_000_000;
const inc = (type: IncidentType, subject: string): Incident => ({ id: makeIncidentId(type, subject, T0), type, subject, status: 'open', openedAt: T0, resolvedAt: null, explanation: '', evidence: [], history: [] });
const active: ControlState = { paused: false, reason: '', since: null };
const shadow: Playbook[] = [{ ...builtInPlaybooks[0] as Playbook, mode: 'shadow' }];
const verdicts = (pbs: readonly Playbook[], control: ControlState, rows: { incident: Incident; remediation: IncidentRemediation | null }[]): string[] =>
  planDryRun(pbs, control, rows).map((d) => `${d.subject}: ${d.step === null ? '-' : `${d.step} ${d.action ?? ''}`} ${d.verdict}`);

describe('plan --dry-run decisions', () => {
  it('says which step would run, and names what holds each incident back', () => {
    const stuck = { incident: inc('rotation_failed', 'shop/web-1'), remediation: null };
    const agent = { incident: inc('agent_disconnected', 'agent:node-1'), remediation: null };
    assert.deepEqual(verdicts(builtInPlaybooks, active, [stuck, agent]), [
      'shop/web-1: 1 restart_envoy would run',
      'agent:node-1: - held: no playbook matches incident type agent_disconnected',
    ]);
    assert.deepEqual(verdicts(builtInPlaybooks, { paused: true, reason: 'change freeze', since: T0 }, [stuck]), ['shop/web-1: 1 restart_envoy held: kill switch on (change freeze)']);
    assert.match(verdicts(builtInPlaybooks, active, [stuck, { incident: inc('fleet_storm', 'fleet'), remediation: null }])[0] ?? '', /held: fleet in storm \(fleet_storm--fleet--/);
    assert.deepEqual(verdicts(shadow, active, [stuck]), ['shop/web-1: 1 restart_envoy would record (shadow: decided and audited, not performed)']);
    const escalated: IncidentRemediation = { phase: 'needs_human', playbook: 'envoy-rotation-failed', step: 1, action: null, updatedAt: T0, reason: 'ladder exhausted' };
    assert.deepEqual(verdicts(builtInPlaybooks, active, [{ ...stuck, remediation: escalated }]), ['shop/web-1: - held: ladder escalated to a human (ladder exhausted)']);
  });
});
