/**
 * The budget re-check when a job starts: the plan records a job's ledger entry when it decides it,
 * but another replica can decide at the same moment. The job that comes later in the ledger than
 * a full budget is held back (the plan runs the step again when the budget allows).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { RedisAuditLog } from '../../src/adapters/redis/redis-audit-log.js';
import { RedisKnowledgeStore } from '../../src/adapters/redis/redis-knowledge-store.js';
import type { ActionContext, RemediationAction } from '../../src/execute/action.js';
import { processRemediationJob } from '../../src/execute/process-remediation-job.js';
import type { Clock } from '../../src/knowledge/clock.js';
import { makeActionRunId, type RemediationRequest } from '../../src/knowledge/model/action-run.js';
import { makeIncidentId } from '../../src/knowledge/model/incident.js';
import { uniquePrefix, withRedis } from '../support/redis.js';

const T0 = 1_800_000_000_000;
const clock: Clock = { now: () => T0 };

describe('execute re-checks the budget when a job starts (real Redis)', () => {
  const redis = withRedis();

  async function setup(perPlaybook: number, earlier: number) {
    const conn = redis.connect();
    const prefix = uniquePrefix('budget');
    const store = new RedisKnowledgeStore(conn, prefix);
    let effects = 0;
    const action: RemediationAction = {
      name: 'restart_envoy',
      precheck: () => Promise.resolve({ proceed: true, detail: 'unhealthy' }),
      perform: () => {
        effects++;
        return Promise.resolve('restarted');
      },
    };
    const ctx: ActionContext = {
      store,
      audit: new RedisAuditLog(conn, prefix),
      clock,
      envoy: undefined as never,
      rotation: { rotateAtFraction: 0.5, graceMs: 1_000 },
    };
    // Actions of the same playbook decided just before this one (by another replica, say).
    for (let i = 0; i < earlier; i++) {
      await store.recordLedgerEntry({
        id: `other-${String(i)}`,
        playbook: 'pb',
        subject: `shop/api-${String(i)}`,
        incidentId: `inc-${String(i)}`,
        at: T0 - 1_000 + i,
      });
    }
    const incidentId = makeIncidentId('rotation_failed', 'shop/web-1', T0);
    await store.openIncident({
      id: incidentId,
      type: 'rotation_failed',
      subject: 'shop/web-1',
      status: 'open',
      openedAt: T0,
      resolvedAt: null,
      explanation: 'x',
      evidence: [],
      history: [],
    });
    const job: RemediationRequest = {
      id: makeActionRunId(incidentId, 0, 1),
      incidentId,
      step: 0,
      attempt: 1,
      action: 'restart_envoy',
      target: 'shop/web-1',
      decidedAt: T0,
      shadow: false,
      budget: { playbook: 'pb', subject: 'shop/web-1', perPlaybook: { count: perPlaybook, windowMs: 60_000 }, perSubject: null },
    };
    await store.recordLedgerEntry({ id: job.id, playbook: 'pb', subject: 'shop/web-1', incidentId, at: T0 });
    return { job, ctx, actions: new Map([[action.name, action]]), effects: () => effects };
  }

  it('holds back a job whose budget was used up by actions decided before it', async () => {
    const { job, ctx, actions, effects } = await setup(2, 2);
    const out = await processRemediationJob(job, actions, ctx, new AbortController().signal);
    assert.equal(out.result, 'skipped');
    assert.equal(out.held, true);
    assert.match(out.detail, /over budget: 2 actions of playbook pb were decided before this one in the last 60s \(max 2\); held back/);
    assert.equal(effects(), 0);
  });

  it('lets it run while the budget has room, counting only entries before it in the window', async () => {
    const { job, ctx, actions, effects } = await setup(3, 2);
    const out = await processRemediationJob(job, actions, ctx, new AbortController().signal);
    assert.equal(out.result, 'succeeded', out.detail);
    assert.equal(effects(), 1);
  });
});
