import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { RedisAuditLog } from '../../src/adapters/redis/redis-audit-log.js';
import { RedisKnowledgeStore } from '../../src/adapters/redis/redis-knowledge-store.js';
import type { RemediationRequest } from '../../src/knowledge/model/action-run.js';
import { makeIncidentId, type Incident, type IncidentType } from '../../src/knowledge/model/incident.js';
import { playbook } from '../builders/playbooks.js';
import { reconcilePlans } from '../../src/plan/reconcile-plans.js';
import { uniquePrefix, withRedis } from '../support/redis.js';

const T0 = 1_800_000_000_000;
const incident = (type: IncidentType, subject: string): Incident => ({
  id: makeIncidentId(type, subject, T0),
  type,
  subject,
  status: 'open',
  openedAt: T0,
  resolvedAt: null,
  explanation: `${type} on ${subject}`,
  evidence: [],
  history: [],
});

describe('plan holds every remediation while the fleet is in a storm (real Redis)', () => {
  const redis = withRedis();

  it('no job while a fleet_storm incident is open; the same step starts once it resolves and the storm cooldown has passed', async () => {
    const conn = redis.connect();
    const prefix = uniquePrefix('storm');
    const store = new RedisKnowledgeStore(conn, prefix);
    const audit = new RedisAuditLog(conn, prefix);
    const jobs: RemediationRequest[] = [];
    const deps = {
      store,
      audit,
      playbooks: () => [playbook({ guardrails: { stormCooldownMs: 60_000 } })],
      enqueue: (r: RemediationRequest) => {
        jobs.push(r);
        return Promise.resolve(true);
      },
    };
    const stuck = incident('rotation_failed', 'shop/web-1');
    const storm = incident('fleet_storm', 'fleet');
    await store.openIncident(stuck);
    await store.openIncident(storm);

    const held = await reconcilePlans(deps, T0 + 1_000);
    assert.deepEqual([held.enqueued, jobs.length, held.paused], [0, 0, false], 'held, but the kill switch itself is off');
    const entries = await audit.list({ incidentId: stuck.id });
    assert.ok(
      entries.some((e) => /fleet in storm/.test(e.message)),
      entries.map((e) => e.message).join(' | '),
    );

    await store.resolveIncident(storm.id, T0 + 2_000, 'storm over');
    const cooling = await reconcilePlans(deps, T0 + 3_000);
    assert.equal(cooling.enqueued, 0, 'the storm cooldown still holds it');
    assert.ok((await audit.list({ incidentId: stuck.id })).some((e) => /storm cooldown/.test(e.message)));
    const resumed = await reconcilePlans(deps, T0 + 62_001);
    assert.equal(resumed.enqueued, 1);
    assert.deepEqual(
      jobs.map((j) => [j.action, j.target]),
      [['restart_envoy', 'shop/web-1']],
    );
  });
});
