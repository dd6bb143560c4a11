import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { EnvoyAdminHttp } from '../../src/adapters/envoy/admin-http.js';
import { RedisAuditLog } from '../../src/adapters/redis/redis-audit-log.js';
import { RedisKnowledgeStore } from '../../src/adapters/redis/redis-knowledge-store.js';
import { restartEnvoyAction } from '../../src/execute/actions/restart-envoy.action.js';
import type { ActionContext } from '../../src/execute/action.js';
import { processRemediationJob } from '../../src/execute/process-remediation-job.js';
import { systemClock } from '../../src/knowledge/clock.js';
import { makeActionRunId, type RemediationRequest } from '../../src/knowledge/model/action-run.js';
import { makeIncidentId, type Incident } from '../../src/knowledge/model/incident.js';
import { parseScenario } from '../../src/sim/scenario.js';
import { startSimulatedFleet, type RunningSimFleet } from '../../src/sim/simulated-fleet.js';
import { startTestRedis, uniquePrefix } from '../support/redis.js';

const scenario = parseScenario(
  'inline',
  'name: x\nfleet:\n  svidTtl: 4s\n  envoyRestart: 200ms\n  workloads:\n    - {location: shop, name: web, count: 2}\n',
);
const actions = new Map([[restartEnvoyAction.name, restartEnvoyAction]]);

describe('execute: processing remediation jobs against the simulated fleet', () => {
  let redis: Awaited<ReturnType<typeof startTestRedis>>;
  let conn: Redis;
  let fleet: RunningSimFleet;
  before(async () => {
    redis = await startTestRedis();
    conn = new Redis(redis.url);
    fleet = await startSimulatedFleet(scenario);
  });
  after(async () => {
    await fleet.stop();
    await conn.quit();
    await redis.stop();
  });

  async function setup(target: string): Promise<{ ctx: ActionContext; job: RemediationRequest }> {
    const prefix = uniquePrefix();
    const store = new RedisKnowledgeStore(conn, prefix);
    const audit = new RedisAuditLog(conn, prefix);
    const w = scenario.workloads.find((x) => x.id === target);
    assert.ok(w);
    await store.putWorkload({
      id: w.id,
      spiffeId: w.spiffeId,
      trustDomain: 'example.org',
      platform: 'kubernetes',
      location: 'shop',
      envoyAdminUrl: fleet.adminUrl(w.id),
    });
    const now = Date.now();
    const incident: Incident = {
      id: makeIncidentId('rotation_failed', target, now),
      type: 'rotation_failed',
      subject: target,
      status: 'open',
      openedAt: now,
      resolvedAt: null,
      explanation: 'test',
      evidence: [],
      history: [],
    };
    await store.openIncident(incident);
    const job: RemediationRequest = {
      id: makeActionRunId(incident.id, 0, 1),
      incidentId: incident.id,
      step: 0,
      attempt: 1,
      action: 'restart_envoy',
      target,
      decidedAt: now,
      shadow: false,
    };
    return {
      ctx: { store, audit, clock: systemClock, envoy: new EnvoyAdminHttp(), rotation: { rotateAtFraction: 0.5, graceMs: 500 } },
      job,
    };
  }

  it('skips a target that is healthy when the job starts, and never touches it', async () => {
    const { ctx, job } = await setup('shop/web-0');
    const before = fleet.world.envoy('shop/web-0').restartCount;
    const out = await processRemediationJob(job, actions, ctx, new AbortController().signal);
    assert.equal(out.result, 'skipped');
    assert.match(out.detail, /already serves a current SVID/);
    assert.equal(fleet.world.envoy('shop/web-0').restartCount, before);
    assert.equal((await ctx.store.getActionRun(job.id))?.state, 'skipped');
    assert.deepEqual(
      (await ctx.audit.list()).map((e) => e.type),
      ['job.started', 'job.skipped'],
    );
  });

  it('while paused, a job ends skipped with the reason', async () => {
    const { ctx, job } = await setup('shop/web-0');
    await ctx.store.setControl({ paused: true, reason: 'change freeze', since: Date.now() });
    const out = await processRemediationJob(job, actions, ctx, new AbortController().signal);
    assert.equal(out.result, 'skipped');
    assert.match(out.detail, /paused: change freeze/);
  });

  it('restarts an Envoy that really is stuck, once, even when the job is delivered twice', async () => {
    fleet.injectFault({ kind: 'envoy_sds_stuck', target: 'shop/web-1', atMs: 0 });
    // Wait until the stuck Envoy's SVID is past its rotation point (ttl/2 + grace).
    const served = fleet.world.envoy('shop/web-1').served;
    assert.ok(served);
    await new Promise((r) => setTimeout(r, Math.max(0, served.notBeforeMs + 2_000 + 600 - Date.now())));
    const { ctx, job } = await setup('shop/web-1');
    const first = await processRemediationJob(job, actions, ctx, new AbortController().signal);
    assert.equal(first.result, 'succeeded', first.detail);
    assert.equal(first.performed, true);
    const second = await processRemediationJob(job, actions, ctx, new AbortController().signal);
    assert.deepEqual(second, first);
    assert.equal(fleet.world.envoy('shop/web-1').restartCount, 1);
    assert.deepEqual(
      (await ctx.audit.list()).map((e) => e.type),
      ['job.started', 'job.succeeded'],
    );
    assert.equal(fleet.actionsOnHealthyTargets(), 0);
  });

  it('in shadow mode the decision is recorded as succeeded but nothing is performed', async () => {
    fleet.injectFault({ kind: 'envoy_sds_stuck', target: 'shop/web-0', atMs: 0 });
    const served = fleet.world.envoy('shop/web-0').served;
    assert.ok(served);
    await new Promise((r) => setTimeout(r, Math.max(0, served.notBeforeMs + 2_000 + 600 - Date.now())));
    const { ctx, job } = await setup('shop/web-0');
    const before = fleet.world.envoy('shop/web-0').restartCount;
    const out = await processRemediationJob({ ...job, shadow: true }, actions, ctx, new AbortController().signal);
    assert.equal(out.result, 'succeeded');
    assert.equal(out.performed, false);
    assert.match(out.detail, /^shadow: would act/);
    assert.equal(fleet.world.envoy('shop/web-0').restartCount, before);
  });
});
