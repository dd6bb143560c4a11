import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { RedisAuditLog } from '../../src/adapters/redis/redis-audit-log.js';
import { RedisKnowledgeStore } from '../../src/adapters/redis/redis-knowledge-store.js';
import type { RemediationRequest } from '../../src/knowledge/model/action-run.js';
import { makeIncidentId, type Incident } from '../../src/knowledge/model/incident.js';
import { reconcilePlans } from '../../src/plan/reconcile-plans.js';
import { playbook, step } from '../builders/playbooks.js';
import { uniquePrefix, withRedis } from '../support/redis.js';

const T0 = 1_800_000_000_000;

function incident(subject: string, at: number): Incident {
  return {
    id: makeIncidentId('rotation_failed', subject, at),
    type: 'rotation_failed',
    subject,
    status: 'open',
    openedAt: at,
    resolvedAt: null,
    explanation: 'stuck',
    evidence: [],
    history: [],
  };
}

describe('the guardrail ledger counts each started job once (real Redis)', () => {
  const redis = withRedis();

  it('passes while a job stays executing neither grow the budget count nor hold a second incident', async () => {
    const prefix = uniquePrefix('ledger');
    const conn = redis.connect();
    const store = new RedisKnowledgeStore(conn, prefix);
    const audit = new RedisAuditLog(conn, prefix);
    const pb = playbook({
      steps: [step({ jobTimeoutMs: 60_000 })],
      guardrails: {
        maxActionsPerPlaybook: { count: 2, windowMs: 60_000 },
        maxActionsPerSubject: { count: 1, windowMs: 60_000 },
        cooldownMs: 30_000,
      },
    });
    const jobs: RemediationRequest[] = [];
    const deps = {
      store,
      audit,
      playbooks: () => [pb],
      enqueue: (r: RemediationRequest) => {
        if (jobs.some((j) => j.id === r.id)) return Promise.resolve(false);
        jobs.push(r);
        return Promise.resolve(true);
      },
    };

    const first = incident('shop/web-1', T0);
    await store.openIncident(first);
    // The job is never finished: the plan stays executing for six passes.
    for (let i = 1; i <= 6; i++) await reconcilePlans(deps, T0 + i * 1_000);
    assert.equal(jobs.length, 1);
    assert.equal((await store.getRemediation(first.id))?.phase, 'remediating');
    assert.equal(await store.countLedgerEntries({ playbook: 'pb' }, T0), 1, 'one job, one ledger entry');
    assert.equal(await store.countLedgerEntries({ subject: 'shop/web-1' }, T0), 1);
    assert.equal((await store.lastLedgerEntry('shop/web-1'))?.at, T0 + 1_000, 'the entry keeps the time the job was decided');

    // A second incident fits the playbook budget of 2.
    const second = incident('shop/web-2', T0 + 7_000);
    await store.openIncident(second);
    const res = await reconcilePlans(deps, T0 + 8_000);
    assert.deepEqual(res.held, {});
    assert.equal((await store.getRemediation(second.id))?.phase, 'remediating');
    assert.deepEqual(
      jobs.map((j) => j.target),
      ['shop/web-1', 'shop/web-2'],
    );
    assert.equal(await store.countLedgerEntries({ playbook: 'pb' }, T0), 2);
  });

  it('two incidents in one pass against a budget of 1: exactly one is decided, the other held with the budget reason', async () => {
    const prefix = uniquePrefix('ledger-pass');
    const conn = redis.connect();
    const store = new RedisKnowledgeStore(conn, prefix);
    const audit = new RedisAuditLog(conn, prefix);
    const pb = playbook({ guardrails: { maxActionsPerPlaybook: { count: 1, windowMs: 60_000 } } });
    const jobs: RemediationRequest[] = [];
    const deps = {
      store,
      audit,
      playbooks: () => [pb],
      enqueue: (r: RemediationRequest) => {
        jobs.push(r);
        return Promise.resolve(true);
      },
    };
    const first = incident('shop/web-1', T0);
    const second = incident('shop/web-2', T0 + 1);
    await store.openIncident(second);
    await store.openIncident(first);
    const res = await reconcilePlans(deps, T0 + 1_000);
    assert.deepEqual(
      jobs.map((j) => j.target),
      ['shop/web-1'],
    );
    assert.deepEqual(res.held, { max_actions_playbook: 1 });
    assert.equal((await store.getRemediation(first.id))?.phase, 'remediating');
    const held = await store.getRemediation(second.id);
    assert.equal(held?.phase, 'held');
    assert.match(held.reason, /^budget: playbook pb took 1 actions in the last 1m0s \(max 1\)/);
    assert.equal(await store.countLedgerEntries({ playbook: 'pb' }, T0), 1);
  });
});
