import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { RedisAuditLog } from '../../src/adapters/redis/redis-audit-log.js';
import { RedisKnowledgeStore } from '../../src/adapters/redis/redis-knowledge-store.js';
import { approveCommand } from '../../src/cli/approve.command.js';
import { CliError } from '../../src/cli/exit-codes.js';
import type { RemediationRequest } from '../../src/knowledge/model/action-run.js';
import { makeIncidentId, type Incident } from '../../src/knowledge/model/incident.js';
import type { Playbook } from '../../src/plan/playbooks/playbook.js';
import { reconcilePlans } from '../../src/plan/reconcile-plans.js';
import { composition } from '../../src/main.js';
import { playbook, step } from '../builders/playbooks.js';
import { uniquePrefix, withRedis } from '../support/redis.js';

const T0 = 1_800_000_000_000;
const stuck: Incident = {
  id: makeIncidentId('rotation_failed', 'shop/web-1', T0), type: 'rotation_failed', subject: 'shop/web-1', status: 'open', openedAt: T0, resolvedAt: null,
  explanation: 'stuck', evidence: [], history: [], cause: 'envoy_sds_stuck',
};

describe('approve mode: each step waits for an approval bound to the plan hash (real Redis)', () => {
  const redis = withRedis();

  it('waits; approve lets it proceed; a plan changed after approval waits again', async () => {
    const prefix = uniquePrefix('approve');
    const conn = redis.connect();
    const store = new RedisKnowledgeStore(conn, prefix);
    const audit = new RedisAuditLog(conn, prefix);
    let playbooks: Playbook[] = [playbook({ mode: 'approve', steps: [step(), step({ action: 'redeploy' })] })];
    const jobs: RemediationRequest[] = [];
    const deps = { store, audit, playbooks: () => playbooks, enqueue: (r: RemediationRequest) => { jobs.push(r); return Promise.resolve(true); } };
    const loc = { redisUrl: redis.url, prefix };
    const lines: string[] = [];
    await store.openIncident(stuck);

    await reconcilePlans(deps, T0 + 1_000);
    await reconcilePlans(deps, T0 + 2_000);
    assert.equal(jobs.length, 0, 'nothing runs without approval');
    const waiting = await store.getRemediation(stuck.id);
    assert.equal(waiting?.phase, 'awaiting_approval');
    const firstHash = waiting.planHash ?? '';
    assert.match(firstHash, /^[0-9a-f]{16}$/);

    // Approving a plan other than the pending one is refused.
    await assert.rejects(approveCommand(composition, loc, stuck.id, { plan: '0000000000000000' }, (l) => lines.push(l), T0 + 2_500), CliError);
    assert.equal(await approveCommand(composition, loc, stuck.id, { plan: firstHash, ttl: '10m', by: 'alice' }, (l) => lines.push(l), T0 + 3_000), 0);

    // The playbook changes before the next pass: the approval no longer covers the plan.
    playbooks = [playbook({ mode: 'approve', steps: [step({ jobTimeoutMs: 9_000 }), step({ action: 'redeploy' })] })];
    await reconcilePlans(deps, T0 + 4_000);
    assert.equal(jobs.length, 0, 'a changed plan waits again');
    const again = await store.getRemediation(stuck.id);
    assert.equal(again?.phase, 'awaiting_approval');
    assert.notEqual(again.planHash, firstHash);
    assert.match(again.reason, new RegExp(`approval by alice was for plan ${firstHash}`));

    await approveCommand(composition, loc, stuck.id, { ttl: '10m', by: 'bob' }, (l) => lines.push(l), T0 + 5_000);
    await reconcilePlans(deps, T0 + 6_000);
    assert.deepEqual(jobs.map((j) => [j.action, j.step]), [['restart_envoy', 0]]);

    // An expired approval does not carry over to a new plan step either: step 2 waits for its own.
    await store.putActionRun({ id: jobs[0]?.id ?? '', incidentId: stuck.id, step: 0, attempt: 1, action: 'restart_envoy', target: 'shop/web-1', state: 'failed', enqueuedAt: T0 + 6_000, startedAt: T0 + 6_100, finishedAt: T0 + 6_200, detail: 'HTTP 500', performed: false });
    await reconcilePlans(deps, T0 + 7_000);
    await reconcilePlans(deps, T0 + 8_000);
    assert.equal(jobs.length, 1);
    const step2 = await store.getRemediation(stuck.id);
    assert.deepEqual([step2?.phase, step2?.step], ['awaiting_approval', 1]);

    const types = (await audit.list({ incidentId: stuck.id })).map((e) => e.type);
    assert.deepEqual(types.filter((t) => t === 'plan.awaiting_approval' || t === 'plan.approved' || t === 'plan.decided'),
      ['plan.awaiting_approval', 'plan.approved', 'plan.awaiting_approval', 'plan.approved', 'plan.decided', 'plan.awaiting_approval']);
  });
});
