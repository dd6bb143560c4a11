import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { RedisKnowledgeStore } from '../../src/adapters/redis/redis-knowledge-store.js';
import { makeIncidentId, type Incident, type IncidentCause, type IncidentType } from '../../src/knowledge/model/incident.js';
import { planDryRun } from '../../src/plan/dry-run.js';
import type { Playbook } from '../../src/plan/playbooks/playbook.js';
import { cert, certsObservation, workload } from '../builders/observations.js';
import { defaultPlaybooks, playbook } from '../builders/playbooks.js';
import { uniquePrefix, withRedis } from '../support/redis.js';

const T0 = 1_800_000_000_000;
const inc = (type: IncidentType, subject: string, cause?: IncidentCause): Incident => ({
  id: makeIncidentId(type, subject, T0),
  type,
  subject,
  status: 'open',
  openedAt: T0,
  resolvedAt: null,
  explanation: `${type} on ${subject}`,
  evidence: [],
  history: [],
  ...(cause === undefined ? {} : { cause }),
});

describe('plan --dry-run decisions (real Redis, reads only)', () => {
  const redis = withRedis();

  async function verdicts(
    incidents: Incident[],
    playbooks: readonly Playbook[],
    setup?: (s: RedisKnowledgeStore) => Promise<void>,
  ): Promise<string[]> {
    const store = new RedisKnowledgeStore(redis.connect(), uniquePrefix('dry'));
    for (const i of incidents) await store.openIncident(i);
    await setup?.(store);
    const out = await planDryRun(store, playbooks, T0 + 1_000);
    // Nothing was written: no plan snapshot, no ledger entry.
    for (const i of incidents) assert.equal(await store.loadPlanSnapshot(i.id), null);
    return out
      .sort((a, b) => (a.incident < b.incident ? 1 : -1))
      .map(
        (d) =>
          `${d.subject}: ${d.step === null ? '-' : `${d.step} ${d.action ?? ''}`} ${d.verdict}${d.skipped.length > 0 ? ` [skips ${d.skipped.length}]` : ''}`,
      );
  }

  it('the diagnosis picks the first step of the shipped ladder', async () => {
    const lines = await verdicts(
      [inc('rotation_failed', 'shop/web-1', 'envoy_sds_stuck'), inc('agent_disconnected', 'agent:node-9', 'agent_cannot_reattest')],
      defaultPlaybooks(),
    );
    assert.deepEqual(lines, ['shop/web-1: 2 restart_envoy would run [skips 1]', 'agent:node-9: 2 collect_evidence would run [skips 1]']);
  });

  it('names the guardrail that holds each incident back', async () => {
    const stuck = inc('rotation_failed', 'shop/web-1', 'envoy_sds_stuck');
    assert.deepEqual(await verdicts([stuck, inc('cloudrun_revision_not_ready', 'p/r/s')], [playbook()]), [
      'shop/web-1: 1 restart_envoy would run',
      'p/r/s: - held: no playbook matches incident type cloudrun_revision_not_ready on p/r/s',
    ]);
    const paused = await verdicts([stuck], [playbook()], (s) => s.setControl({ paused: true, reason: 'change freeze', since: T0 }));
    assert.deepEqual(paused, ['shop/web-1: 1 restart_envoy held by kill_switch: kill switch on: change freeze']);
    const storm = await verdicts([stuck, inc('fleet_storm', 'fleet')], [playbook()]);
    assert.match(storm[0] ?? '', /held by storm: fleet in storm \(fleet_storm--fleet--/);
    const budget = await verdicts([stuck], [playbook({ guardrails: { maxActionsPerPlaybook: { count: 1, windowMs: 60_000 } } })], (s) =>
      s.recordLedgerEntry({ id: 'earlier', playbook: 'pb', subject: 'shop/web-2', incidentId: 'other', at: T0 }),
    );
    assert.match(budget[0] ?? '', /held by max_actions_playbook: budget: playbook pb took 1 actions in the last 1m/);
    const frozen = await verdicts(
      [stuck],
      [playbook({ guardrails: { freeze: [{ reason: 'release week', from: T0 - 1, to: T0 + 10_000 }] } })],
    );
    assert.deepEqual(frozen, ['shop/web-1: 1 restart_envoy held by freeze: freeze period: release week']);
    assert.deepEqual(await verdicts([stuck], [playbook({ mode: 'shadow' })]), [
      'shop/web-1: 1 restart_envoy would record (shadow: decided and audited, not performed)',
    ]);
    assert.match(
      (await verdicts([stuck], [playbook({ mode: 'approve' })]))[0] ?? '',
      /waits for approval: waiting for approval of step 1 \(restart_envoy on shop\/web-1, plan [0-9a-f]{16}\)/,
    );
  });

  it('shows a hold that outlasts the certificate: when it expires while held', async () => {
    const stuck = inc('rotation_failed', 'shop/web-1', 'envoy_sds_stuck');
    const pb = [playbook({ guardrails: { cooldownMs: 300_000 } })];
    const out = await verdicts([stuck], pb, async (s) => {
      await s.putWorkload(workload('shop/web-1'));
      // Acted on 30 s ago for an earlier incident; the SVID it serves now expires 5 s from now.
      await s.recordLedgerEntry({ id: 'earlier--s0--a1', playbook: 'pb', subject: 'shop/web-1', incidentId: 'earlier', at: T0 - 29_000 });
      await s.recordObservation(certsObservation('shop/web-1', T0 + 500, cert('0a', T0 - 2_000, 8_000)));
    });
    assert.deepEqual(out, [
      `shop/web-1: 1 restart_envoy held by cooldown: cooldown: shop/web-1 was acted on 30s ago (incident earlier), under 5m0s; the certificate expires at ${new Date(T0 + 6_000).toISOString()} while held (escalated)`,
    ]);
  });
});
