import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { RedisAuditLog } from '../../src/adapters/redis/redis-audit-log.js';
import { RedisKnowledgeStore } from '../../src/adapters/redis/redis-knowledge-store.js';
import type { RemediationRequest } from '../../src/knowledge/model/action-run.js';
import { makeIncidentId, type Incident } from '../../src/knowledge/model/incident.js';
import { reconcilePlans } from '../../src/plan/reconcile-plans.js';
import { playbook, step } from '../builders/playbooks.js';
import { uniquePrefix, withRedis } from '../support/redis.js';

const T0 = 1_800_000_000_000;

describe('a plan survives a daemon restart in the middle of its ladder (real Redis)', () => {
  const redis = withRedis();

  it('continues at the step it was on, keeps its deadlines as data, and repeats no step', async () => {
    const prefix = uniquePrefix('restart');
    const ladder = playbook({
      steps: [
        step({ action: 'restart_envoy', verify: { expect: 'incident_resolved', timeoutMs: 10_000 } }),
        step({ action: 'redeploy' }),
        step({ action: 'collect_evidence' }),
      ],
    });
    const incident: Incident = {
      id: makeIncidentId('rotation_failed', 'shop/web-1', T0),
      type: 'rotation_failed',
      subject: 'shop/web-1',
      status: 'open',
      openedAt: T0,
      resolvedAt: null,
      explanation: 'stuck',
      evidence: [],
      history: [],
    };
    const enqueued: string[] = [];
    /** One daemon "process": its own Redis connection and collaborators, nothing shared in memory. */
    const daemonProcess = () => {
      const conn = new Redis(redis.url);
      const store = new RedisKnowledgeStore(conn, prefix);
      const audit = new RedisAuditLog(conn, prefix);
      const queue = new Set<string>(enqueued);
      const deps = {
        store,
        audit,
        playbooks: () => [ladder],
        enqueue: (r: RemediationRequest) => {
          if (queue.has(r.id)) return Promise.resolve(false);
          queue.add(r.id);
          enqueued.push(r.id);
          return Promise.resolve(true);
        },
      };
      return { store, audit, pass: (at: number) => reconcilePlans(deps, at), stop: () => conn.quit() };
    };

    const first = daemonProcess();
    await first.store.openIncident(incident);
    await first.pass(T0 + 100);
    const step1 = enqueued[0] ?? '';
    await first.store.putActionRun({
      id: step1,
      incidentId: incident.id,
      step: 0,
      attempt: 1,
      action: 'restart_envoy',
      target: 'shop/web-1',
      state: 'succeeded',
      enqueuedAt: T0 + 100,
      startedAt: T0 + 200,
      finishedAt: T0 + 300,
      detail: 'restarted',
      performed: true,
    });
    await first.pass(T0 + 400); // verifying until T0 + 300 + 10s
    assert.equal((await first.store.getRemediation(incident.id))?.phase, 'verifying');
    await first.stop(); // killed mid-ladder

    // Restarted before the verify deadline: still verifying, nothing new queued.
    const second = daemonProcess();
    await second.pass(T0 + 5_000);
    assert.equal((await second.store.getRemediation(incident.id))?.phase, 'verifying');
    assert.deepEqual(enqueued, [step1]);
    await second.stop();

    // Down across the deadline: the next process fails verification from the stored deadline and starts step 2, once.
    const third = daemonProcess();
    await third.pass(T0 + 60_000);
    await third.pass(T0 + 60_500);
    await third.stop();
    const fourth = daemonProcess();
    await fourth.pass(T0 + 61_000);
    assert.deepEqual(enqueued, [step1, `${incident.id}--s1--a1`]);
    const r = await fourth.store.getRemediation(incident.id);
    assert.deepEqual([r?.phase, r?.step, r?.action], ['remediating', 1, 'redeploy']);
    const types = (await fourth.audit.list({ incidentId: incident.id })).map((e) => e.type);
    assert.deepEqual(
      types.filter((t) => t === 'job.enqueued' || t === 'verification.failed'),
      ['job.enqueued', 'verification.failed', 'job.enqueued'],
    );
    await fourth.stop();
  });
});
