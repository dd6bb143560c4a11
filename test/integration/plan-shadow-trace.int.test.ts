import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { RedisAuditLog } from '../../src/adapters/redis/redis-audit-log.js';
import { RedisKnowledgeStore } from '../../src/adapters/redis/redis-knowledge-store.js';
import type { RemediationAction } from '../../src/execute/action.js';
import { processRemediationJob } from '../../src/execute/process-remediation-job.js';
import type { AuditEntry } from '../../src/knowledge/audit.js';
import type { RemediationRequest } from '../../src/knowledge/model/action-run.js';
import { makeIncidentId, type Incident } from '../../src/knowledge/model/incident.js';
import type { PlaybookMode } from '../../src/plan/playbooks/playbook.js';
import { reconcilePlans } from '../../src/plan/reconcile-plans.js';
import { playbook, step } from '../builders/playbooks.js';
import { uniquePrefix, withRedis } from '../support/redis.js';

const T0 = 1_800_000_000_000;
const incident = (subject: string, at: number): Incident => ({
  id: makeIncidentId('rotation_failed', subject, at),
  type: 'rotation_failed',
  subject,
  status: 'open',
  openedAt: at,
  resolvedAt: null,
  explanation: 'stuck',
  evidence: [],
  history: [],
  cause: 'envoy_sds_stuck',
});

/** Runs one fixed story of incidents, jobs and recoveries through plan and execute; returns the audit trace and the effects performed. */
async function story(redis: ReturnType<typeof withRedis>, mode: PlaybookMode): Promise<{ trace: AuditEntry[]; effects: string[] }> {
  const prefix = uniquePrefix(mode);
  const conn = redis.connect();
  const store = new RedisKnowledgeStore(conn, prefix);
  const audit = new RedisAuditLog(conn, prefix);
  let now = T0;
  const clock = { now: () => now };
  const effects: string[] = [];
  const fakeRestart: RemediationAction = {
    name: 'restart_envoy',
    precheck: (job) => Promise.resolve({ proceed: true, detail: `${job.target} still stuck` }),
    perform: (job) => {
      effects.push(job.target);
      return Promise.resolve(`restarted ${job.target}`);
    },
  };
  const queue: RemediationRequest[] = [];
  const pb = playbook({
    mode,
    steps: [step({ when: { causes: ['agent_not_rotating'] }, action: 'force_rotation' }), step(), step({ action: 'redeploy' })],
    guardrails: { maxActionsPerPlaybook: { count: 2, windowMs: 600_000 } },
  });
  const deps = {
    store,
    audit,
    playbooks: () => [pb],
    enqueue: (r: RemediationRequest) => {
      if (queue.some((q) => q.id === r.id)) return Promise.resolve(false);
      queue.push(r);
      return Promise.resolve(true);
    },
  };
  for (const w of ['shop/web-0', 'shop/web-1', 'shop/web-2'])
    await store.putWorkload({
      id: w,
      spiffeId: `spiffe://example.org/${w}`,
      trustDomain: 'example.org',
      platform: 'kubernetes',
      location: 'shop',
      envoyAdminUrl: 'http://127.0.0.1:1',
    });
  const a = incident('shop/web-0', T0);
  const b = incident('shop/web-1', T0);
  const c = incident('shop/web-2', T0);
  const pass = async (ms: number) => {
    now += ms;
    await reconcilePlans(deps, now);
  };
  const work = async () => {
    for (const j of queue.splice(0))
      await processRemediationJob(
        j,
        new Map([[fakeRestart.name, fakeRestart]]),
        { store, audit, clock, envoy: undefined as never, rotation: { rotateAtFraction: 0.5, graceMs: 1_000 } },
        new AbortController().signal,
      );
  };
  await store.openIncident(a);
  await store.openIncident(b);
  await pass(100); // a and b: force_rotation skipped by diagnosis; restart_envoy decided for both
  await work();
  await pass(100); // both verifying
  await store.setRecovering(a.id, now + 50, now + 50, 'new serial');
  await pass(200); // a verified; b still verifying
  await store.resolveIncident(a.id, now + 10, 'healthy');
  await pass(100); // a done
  await store.openIncident(c);
  await pass(100); // c held: budget of 2 used
  await pass(6_000); // b: verify deadline passed -> redeploy, also over budget -> held
  return { trace: await audit.list(), effects };
}

/**
 * What a decision is: type, subject, time and every data field, with the values that may differ
 * by mode (the mode itself, the shadow flag, whether the effect was performed) masked but their
 * keys kept, so the audit schema must match exactly.
 */
function decisions(trace: readonly AuditEntry[]): string[] {
  const masked = new Set(['shadow', 'mode', 'performed']);
  return trace.map((e) => {
    const data = Object.fromEntries(Object.entries(e.data ?? {}).map(([k, v]) => [k, masked.has(k) ? '*' : v]));
    return JSON.stringify([e.type, e.subject, e.at, data]);
  });
}

describe('shadow mode is faithful: the same decisions and audit schema as auto, without effects (real Redis)', () => {
  const redis = withRedis();

  it('replaying one story in auto and in shadow gives identical decision traces', async () => {
    const auto = await story(redis, 'auto');
    const shadow = await story(redis, 'shadow');
    assert.deepEqual(decisions(shadow.trace), decisions(auto.trace));
    assert.ok(
      auto.trace.some((e) => e.type === 'plan.step_skipped') &&
        auto.trace.some((e) => e.type === 'verification.passed') &&
        auto.trace.some((e) => e.type === 'plan.held'),
      auto.trace.map((e) => e.type).join(', '),
    );
    assert.deepEqual(auto.effects, ['shop/web-0', 'shop/web-1']);
    assert.deepEqual(shadow.effects, [], 'shadow performs nothing');
    const shadowJobs = shadow.trace.filter((e) => e.type === 'job.succeeded');
    assert.ok(shadowJobs.length === 2 && shadowJobs.every((e) => (e.data as { performed?: boolean }).performed === false));
  });
});
