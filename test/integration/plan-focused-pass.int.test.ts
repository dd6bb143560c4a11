/**
 * A focused plan pass (the incidents analysis just opened, or whose job just ended) reads the
 * fleet-wide guardrail state without listing every incident: in-flight plans from the in-flight
 * index, the storm by its subject and the last storm's end from the store. These tests show a
 * focused pass holds exactly where a full pass would.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { RedisAuditLog } from '../../src/adapters/redis/redis-audit-log.js';
import { RedisKnowledgeStore } from '../../src/adapters/redis/redis-knowledge-store.js';
import type { RemediationRequest } from '../../src/knowledge/model/action-run.js';
import { makeIncidentId, type Incident, type IncidentType } from '../../src/knowledge/model/incident.js';
import type { Guardrails } from '../../src/plan/playbooks/playbook.js';
import { reconcilePlans } from '../../src/plan/reconcile-plans.js';
import { playbook } from '../builders/playbooks.js';
import { uniquePrefix, withRedis } from '../support/redis.js';

const T0 = 1_800_000_000_000;
const incident = (type: IncidentType, subject: string, at = T0): Incident => ({
  id: makeIncidentId(type, subject, at),
  type,
  subject,
  status: 'open',
  openedAt: at,
  resolvedAt: null,
  explanation: `${type} on ${subject}`,
  evidence: [],
  history: [],
});

describe('focused plan passes (real Redis)', () => {
  const redis = withRedis();

  function setup(guardrails: Partial<Guardrails>) {
    const conn = redis.connect();
    const prefix = uniquePrefix('focus');
    const store = new RedisKnowledgeStore(conn, prefix);
    const audit = new RedisAuditLog(conn, prefix);
    const jobs: RemediationRequest[] = [];
    const deps = {
      store,
      audit,
      playbooks: () => [playbook({ guardrails })],
      enqueue: (r: RemediationRequest) => {
        jobs.push(r);
        return Promise.resolve(true);
      },
    };
    return { store, audit, jobs, deps };
  }

  it('counts a plan started by an earlier pass against maxConcurrent, and frees the slot when it ends', async () => {
    const { store, jobs, deps } = setup({ maxConcurrent: 1 });
    const first = incident('rotation_failed', 'shop/web-1');
    await store.openIncident(first);
    await reconcilePlans(deps, T0 + 1_000);
    assert.deepEqual(
      jobs.map((j) => j.target),
      ['shop/web-1'],
    );
    assert.deepEqual(
      (await store.listInFlightPlans()).map((p) => p.incidentId),
      [first.id],
    );

    const second = incident('rotation_failed', 'shop/api-1', T0 + 1_500);
    await store.openIncident(second);
    const res = await reconcilePlans(deps, T0 + 2_000, [second.id]);
    assert.equal(res.incidents, 1, 'the focused pass visits only the new incident');
    assert.deepEqual(
      jobs.map((j) => j.target),
      ['shop/web-1'],
      'the second plan is held: one plan in flight already',
    );
    assert.deepEqual(res.held, { max_concurrent: 1 });

    // The first incident resolves: its plan ends and leaves the index; the second may start.
    await store.resolveIncident(first.id, T0 + 3_000, 'over');
    await reconcilePlans(deps, T0 + 3_500, [first.id]);
    assert.deepEqual(await store.listInFlightPlans(), []);
    await reconcilePlans(deps, T0 + 4_000, [second.id]);
    assert.deepEqual(
      jobs.map((j) => j.target),
      ['shop/web-1', 'shop/api-1'],
    );
  });

  it('holds during a storm and through the storm cooldown without listing incidents', async () => {
    const { store, jobs, deps } = setup({ stormCooldownMs: 60_000 });
    const storm = incident('fleet_storm', 'fleet');
    const stuck = incident('rotation_failed', 'shop/web-1');
    await store.openIncident(storm);
    await store.openIncident(stuck);
    await reconcilePlans(deps, T0 + 1_000, [stuck.id]);
    assert.equal(jobs.length, 0, 'held by the open storm');

    await store.resolveIncident(storm.id, T0 + 2_000, 'storm over');
    assert.equal(await store.lastResolvedAt('fleet_storm'), T0 + 2_000);
    await reconcilePlans(deps, T0 + 3_000, [stuck.id]);
    assert.equal(jobs.length, 0, 'held by the storm cooldown');
    await reconcilePlans(deps, T0 + 62_001, [stuck.id]);
    assert.deepEqual(
      jobs.map((j) => j.target),
      ['shop/web-1'],
    );
  });
});
