/**
 * restart_envoy on an `agent:<node>` target (agent_disconnected, cause agent_sds_failing) and the
 * Kubernetes Event of a quitquitquit, against the simulated fleet: the real Envoy admin, client-node
 * and SPIRE health adapters on the fakes, knowledge in a real Redis. The fault is
 * envoy_sds_disconnected: an Envoy whose SDS fetches from its (healthy) agent keep failing.
 */
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { EnvoyAdminHttp } from '../../src/adapters/envoy/admin-http.js';
import { KubernetesInventory } from '../../src/adapters/kubernetes/kubernetes-inventory.js';
import { RedisAuditLog } from '../../src/adapters/redis/redis-audit-log.js';
import { RedisKnowledgeStore } from '../../src/adapters/redis/redis-knowledge-store.js';
import { HttpSpireHealth } from '../../src/adapters/spire/spire-health.client.js';
import { PermanentActionError, type ActionContext, type ActionScope } from '../../src/execute/action.js';
import { maxEnvoys, restartEnvoyAction } from '../../src/execute/actions/restart-envoy.action.js';
import { processRemediationJob } from '../../src/execute/process-remediation-job.js';
import { systemClock } from '../../src/knowledge/clock.js';
import { makeActionRunId, type RemediationRequest } from '../../src/knowledge/model/action-run.js';
import { makeIncidentId, type IncidentType } from '../../src/knowledge/model/incident.js';
import type { KubernetesInventoryPort } from '../../src/ports/kubernetes.port.js';
import { parseScenario } from '../../src/sim/scenario.js';
import { startSimulatedFleet, type RunningSimFleet } from '../../src/sim/simulated-fleet.js';
import { startTestRedis, uniquePrefix } from '../support/redis.js';

// Two nodes; node-1 runs shop/checkout-1, shop/checkout-3, shop/web-1 and shop/web-3.
const scenario = parseScenario(
  'inline',
  [
    'name: x',
    'fleet:',
    '  svidTtl: 20s',
    '  envoyRestart: 300ms',
    '  nodes: 2',
    '  workloads:',
    '    - {location: shop, name: web, count: 4}',
    '    - {location: shop, name: checkout, count: 4}',
    '',
  ].join('\n'),
);
const NODE1 = ['shop/checkout-1', 'shop/checkout-3', 'shop/web-1', 'shop/web-3'];
const actions = new Map([[restartEnvoyAction.name, restartEnvoyAction]]);
const signal = (): AbortSignal => new AbortController().signal;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const waitFor = async (what: string, probe: () => boolean, timeoutMs = 15_000): Promise<void> => {
  const deadline = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
};

interface KubeEvent {
  reason: string;
  action: string;
  message: string;
  involvedObject: { kind: string; name: string; uid: string };
}

describe('restart_envoy on agent:<node> and the Event of a quitquitquit, on the simulated fleet', () => {
  let redis: Awaited<ReturnType<typeof startTestRedis>>;
  let conn: Redis;
  let fleet: RunningSimFleet;
  before(async () => {
    redis = await startTestRedis();
    conn = new Redis(redis.url);
  });
  after(async () => {
    await conn.quit();
    await redis.stop();
  });
  // A fleet per test: faults and restart counts stay apart. Its Envoys must be up for more than a
  // second before a job is decided, else their uptime (whole seconds) cannot tell them from restarted ones.
  beforeEach(async () => {
    fleet = await startSimulatedFleet(scenario);
    await sleep(1_200);
  });
  afterEach(async () => {
    await fleet.stop();
  });

  const restarts = (ids: readonly string[]): number[] => ids.map((id) => fleet.world.envoy(id).restartCount);
  const events = (): KubeEvent[] => fleet.kube.store.list('events', 'shop') as unknown as KubeEvent[];

  async function setup(
    target: string,
    opts: {
      type?: IncidentType;
      params?: RemediationRequest['params'];
      kubernetes?: KubernetesInventoryPort | null;
      scope?: ActionScope;
    } = {},
  ): Promise<{ ctx: ActionContext; job: RemediationRequest }> {
    const prefix = uniquePrefix();
    const store = new RedisKnowledgeStore(conn, prefix);
    for (const w of fleet.targets()) await store.putWorkload(w);
    const now = Date.now();
    const type = opts.type ?? 'agent_disconnected';
    const id = makeIncidentId(type, target, now);
    await store.openIncident({
      id,
      type,
      subject: target,
      status: 'open',
      openedAt: now,
      resolvedAt: null,
      explanation: 'test',
      evidence: [],
      history: [],
    });
    const kubernetes =
      opts.kubernetes === undefined ? new KubernetesInventory({ connection: { kind: 'server', server: fleet.kube.url } }) : opts.kubernetes;
    const ctx: ActionContext = {
      store,
      audit: new RedisAuditLog(conn, prefix),
      clock: systemClock,
      envoy: new EnvoyAdminHttp(),
      rotation: { rotateAtFraction: 0.5, graceMs: 500 },
      kubernetes,
      spireHealth: new HttpSpireHealth(),
      ...(opts.scope === undefined ? {} : { scope: opts.scope }),
    };
    const job: RemediationRequest = {
      id: makeActionRunId(id, 0, 1),
      incidentId: id,
      step: 0,
      attempt: 1,
      action: 'restart_envoy',
      target,
      decidedAt: now,
      shadow: false,
      params: opts.params ?? {},
    };
    return { ctx, job };
  }

  /** Breaks the SDS connection of these Envoys and waits until each counted a failed fetch. */
  async function disconnect(ids: readonly string[]): Promise<void> {
    for (const id of ids) fleet.injectFault({ kind: 'envoy_sds_disconnected', target: id, atMs: 0 });
    await waitFor('failed SDS fetches', () => ids.every((id) => fleet.world.envoy(id).sds.updateFailure > 0));
  }

  it('restarts only the Envoys of the node whose SDS fetches fail, once, even when delivered again, with an Event per pod', async () => {
    await disconnect(['shop/web-1', 'shop/checkout-1']);
    const { ctx, job } = await setup('agent:node-1');
    const out = await processRemediationJob(job, actions, ctx, signal());
    assert.equal(out.result, 'succeeded', out.detail);
    assert.equal(out.performed, true);
    assert.match(
      out.detail,
      /^restarted 2 of 4 Envoys on node-1 \(max 50% of 4 = 2; SPIRE agent pod spire\/spire-agent-node-1 is Ready; http:\/\/127\.0\.0\.1:\d+\/ready answers 200\): /,
    );
    assert.match(
      out.detail,
      /shop\/checkout-1 \(update_failure \d+[^)]*\)\): POST http:\/\/127\.0\.0\.1:\d+\/envoy\/shop%2Fcheckout-1\/quitquitquit accepted/,
    );
    assert.match(out.detail, /shop\/web-1 \(update_failure \d+[^)]*\)\): POST /);
    assert.match(
      out.detail,
      /; skipped: shop\/checkout-3 \(healthy: no failed SDS fetch in this process \(up \d+s\)\); shop\/web-3 \(healthy: no failed SDS fetch/,
    );
    assert.deepEqual(restarts(NODE1), [1, 0, 1, 0]);
    assert.deepEqual(restarts(['shop/web-0', 'shop/web-2', 'shop/checkout-0', 'shop/checkout-2']), [0, 0, 0, 0], 'node-0 untouched');
    assert.equal(fleet.actionsOnHealthyTargets(), 0);
    const ev = events();
    assert.deepEqual(ev.map((e) => [e.reason, e.action, e.involvedObject.kind, e.involvedObject.name]).sort(), [
      ['SpireHealerRestartEnvoy', 'RestartEnvoy', 'Pod', 'checkout-1'],
      ['SpireHealerRestartEnvoy', 'RestartEnvoy', 'Pod', 'web-1'],
    ]);
    for (const e of ev) {
      assert.equal(e.involvedObject.uid, fleet.kube.store.get('pods', 'shop', e.involvedObject.name)?.metadata.uid);
      assert.match(
        e.message,
        new RegExp(
          `restarted the Envoy sidecar of pod ${e.involvedObject.name} \\(POST /quitquitquit\\) for incident ${job.incidentId} \\(job ${job.id}\\)`,
        ),
      );
    }

    // Delivered again: the recorded outcome. The action's own guard, while they restart and after:
    // an Envoy that is down or started after the decision is not restarted again.
    assert.deepEqual(await processRemediationJob(job, actions, ctx, signal()), out);
    const during = await restartEnvoyAction.precheck(job, ctx, signal());
    assert.equal(during.proceed, false, during.detail);
    await waitFor(
      'the Envoys back',
      () => fleet.world.envoy('shop/web-1').state === 'live' && fleet.world.envoy('shop/checkout-1').state === 'live',
    );
    // Broken again in its new process: still not this job's to restart (a new attempt decides anew).
    fleet.injectFault({ kind: 'envoy_sds_disconnected', target: 'shop/web-1', atMs: 0 });
    await waitFor('web-1 failing again', () => fleet.world.envoy('shop/web-1').sds.updateFailure > 0);
    const again = await restartEnvoyAction.precheck(job, ctx, signal());
    assert.equal(again.proceed, false, again.detail);
    assert.match(again.detail, /^no Envoy on node-1 to restart: /);
    assert.match(again.detail, /shop\/web-1 \(its process started \d+s ago, after this job was decided: already restarted\)/);
    assert.match(await restartEnvoyAction.perform(job, ctx, signal()), /^nothing restarted on node-1/);
    assert.deepEqual(restarts(NODE1), [1, 0, 1, 0]);
    assert.equal(events().length, 2, 'one Event per pod and job');
  });

  it('restarts at most max of the node at once (default 50%, at least 1) and says which it left', async () => {
    await disconnect(['shop/web-1', 'shop/web-3', 'shop/checkout-1']);
    const one = await setup('agent:node-1', { params: { max: 1 } });
    const check = await restartEnvoyAction.precheck(one.job, one.ctx, signal());
    assert.equal(check.proceed, true);
    assert.match(check.detail, /^1 of 4 Envoys on node-1 to restart \(max 1 = 1; /);
    assert.match(check.detail, /skipping .*shop\/web-1 \(update_failure \d+.*; over max 1 = 1 Envoys down at once on node-1, 1 already\)/);

    const { ctx, job } = await setup('agent:node-1');
    const out = await processRemediationJob(job, actions, ctx, signal());
    assert.equal(out.result, 'succeeded', out.detail);
    assert.match(out.detail, /^restarted 2 of 4 Envoys on node-1 \(max 50% of 4 = 2; /);
    assert.match(
      out.detail,
      /skipped: .*shop\/web-3 \(update_failure \d+.*over max 50% of 4 = 2 Envoys down at once on node-1, 2 already\)/,
    );
    assert.deepEqual(restarts(NODE1), [1, 0, 1, 0], 'checkout-1 and web-1 (workload id order); web-3 left for the next attempt');

    // The next attempt (a new job) restarts web-3: the two restarted ones are healthy now.
    await waitFor('the Envoys back', () => NODE1.every((id) => fleet.world.envoy(id).state === 'live'));
    await sleep(1_100);
    const next = await setup('agent:node-1');
    const second = await processRemediationJob(next.job, actions, next.ctx, signal());
    assert.equal(second.result, 'succeeded', second.detail);
    assert.match(second.detail, /^restarted 1 of 4 Envoys on node-1/);
    assert.deepEqual(restarts(NODE1), [1, 0, 1, 1]);
    assert.equal(fleet.actionsOnHealthyTargets(), 0);
  });

  it('leaves alone an Envoy whose SDS fetches failed but stopped failing (update_failure unchanged for failingWithin)', async () => {
    await disconnect(['shop/web-1', 'shop/checkout-1']);
    const fault = fleet.faults().findIndex((f) => f.kind === 'envoy_sds_disconnected' && f.target === 'shop/web-1');
    assert.ok(fleet.world.clearFault(fleet.world.faults()[fault]?.id ?? ''), 'web-1 reconnects on its own');
    await sleep(300);
    const { ctx, job } = await setup('agent:node-1');
    // The monitor saw web-1's counter at its current value three minutes ago (and unchanged since).
    const url = fleet.adminUrl('shop/web-1');
    const data = await ctx.envoy.readStats(url);
    await ctx.store.recordObservation({ subject: 'shop/web-1', source: 'envoy.stats', observedAt: Date.now() - 180_000, data });
    const check = await restartEnvoyAction.precheck(job, ctx, signal());
    assert.equal(check.proceed, true, check.detail);
    assert.match(check.detail, /restarting shop\/checkout-1 \(update_failure \d+/);
    assert.match(check.detail, /shop\/web-1 \(healthy: its SDS fetches stopped failing \(update_failure has stayed at \d+ since /);
    // With a longer window it still counts as failing.
    const wide = await restartEnvoyAction.precheck({ ...job, params: { failingWithin: '10m' } }, ctx, signal());
    assert.match(wide.detail, /restarting shop\/checkout-1 \(update_failure \d+[^)]*\)\); shop\/web-1 \(update_failure/);
    assert.deepEqual(restarts(NODE1), [0, 0, 0, 0]);
  });

  it("restarts nothing while the node's agent is down: the job fails at once (permanent), naming why", async () => {
    await disconnect(['shop/web-1', 'shop/checkout-1']);
    fleet.injectFault({ kind: 'agent_down', target: 'node-1', atMs: 0 });
    await sleep(200);
    const { ctx, job } = await setup('agent:node-1');
    await assert.rejects(
      restartEnvoyAction.precheck(job, ctx, signal()),
      (e: unknown) =>
        e instanceof PermanentActionError &&
        /^not restarting the Envoys on node-1: SPIRE agent pod spire\/spire-agent-node-1 is Ready, but http:\/\/127\.0\.0\.1:\d+\/ready cannot be read/.test(
          e.message,
        ),
    );
    const out = await processRemediationJob(job, actions, ctx, signal());
    assert.equal(out.result, 'failed');
    assert.match(out.detail, /would come back without a certificate/);
    assert.deepEqual(restarts(NODE1), [0, 0, 0, 0]);
  });

  it('without Kubernetes nor a /ready reading since the incident opened, nothing confirms the agent: no restart', async () => {
    await disconnect(['shop/web-1', 'shop/checkout-1']);
    const { ctx, job } = await setup('agent:node-1', { kubernetes: null });
    await assert.rejects(
      restartEnvoyAction.precheck(job, ctx, signal()),
      /nothing confirms that the SPIRE agent on node-1 is up \(no agent pod read through Kubernetes, no \/ready answer since /,
    );
    // The monitor's /ready reading since the incident opened is enough.
    await ctx.store.recordObservation({
      subject: 'agent:node-1',
      source: 'spire.agent.health',
      observedAt: Date.now(),
      data: { kind: 'spire.health', node: 'node-1', healthy: true, status: 200, failing: [] },
    });
    const check = await restartEnvoyAction.precheck(job, ctx, signal());
    assert.equal(check.proceed, true, check.detail);
    assert.match(check.detail, /the agent's \/ready answered 200 at /);
    assert.deepEqual(restarts(NODE1), [0, 0, 0, 0]);
  });

  it('leaves Envoys outside the scope alone, and a node without failing Envoys is skipped', async () => {
    await disconnect(['shop/web-1', 'shop/checkout-1']);
    const { ctx, job } = await setup('agent:node-1', {
      scope: { production: false, simulated: true, trustDomains: [], namespaces: ['payments'] },
    });
    const out = await processRemediationJob(job, actions, ctx, signal());
    assert.equal(out.result, 'skipped');
    assert.match(
      out.detail,
      /^no Envoy on node-1 to restart: shop\/checkout-1 \(refused: shop\/checkout-1 is in namespace shop, outside the configured payments\)/,
    );
    const healthy = await setup('agent:node-0');
    const skipped = await processRemediationJob(healthy.job, actions, healthy.ctx, signal());
    assert.equal(skipped.result, 'skipped');
    assert.match(skipped.detail, /^no Envoy on node-0 to restart: shop\/checkout-0 \(healthy: no failed SDS fetch/);
    assert.deepEqual(restarts(NODE1), [0, 0, 0, 0]);
  });

  it('a quitquitquit on a workload records an Event on its pod; an Event that cannot be recorded does not fail the action', async () => {
    fleet.injectFault({ kind: 'envoy_no_certificate', target: 'shop/web-0', atMs: 0 });
    const { ctx, job } = await setup('shop/web-0', { type: 'mtls_errors' });
    const out = await processRemediationJob(job, actions, ctx, signal());
    assert.equal(out.result, 'succeeded', out.detail);
    assert.match(
      out.detail,
      /^POST http:\/\/127\.0\.0\.1:\d+\/envoy\/shop%2Fweb-0\/quitquitquit accepted; Envoy restarts and re-fetches its SVID over SDS$/,
    );
    const [event, ...more] = events();
    assert.deepEqual(more, []);
    assert.ok(event);
    assert.equal(event.reason, 'SpireHealerRestartEnvoy');
    assert.equal(event.involvedObject.name, 'web-0');
    assert.equal(event.involvedObject.uid, fleet.kube.store.get('pods', 'shop', 'web-0')?.metadata.uid);
    assert.match(event.message, new RegExp(`for incident ${job.incidentId} \\(job ${job.id}\\)$`));

    await waitFor('web-0 back', () => fleet.world.envoy('shop/web-0').state === 'live');
    fleet.injectFault({ kind: 'envoy_no_certificate', target: 'shop/web-1', atMs: 0 });
    const real = new KubernetesInventory({ connection: { kind: 'server', server: fleet.kube.url } });
    const broken: KubernetesInventoryPort = Object.assign(Object.create(real) as KubernetesInventoryPort, {
      recordEvent: () => Promise.reject(new Error('events is forbidden')),
    });
    const b = await setup('shop/web-1', { type: 'mtls_errors', kubernetes: broken });
    const res = await processRemediationJob(b.job, actions, b.ctx, signal());
    assert.equal(res.result, 'succeeded', res.detail);
    assert.match(res.detail, /quitquitquit accepted; .*; the Kubernetes Event could not be recorded \(events is forbidden\)$/);
    assert.equal(fleet.world.envoy('shop/web-1').restartCount, 1);
    assert.equal(events().length, 1);
  });
});

describe('restart_envoy max', () => {
  const job = (max: unknown): RemediationRequest => ({
    id: 'j',
    incidentId: 'i',
    step: 0,
    attempt: 1,
    action: 'restart_envoy',
    target: 'agent:n',
    decidedAt: 0,
    shadow: false,
    ...(max === undefined ? {} : { params: { max } as unknown as NonNullable<RemediationRequest['params']> }),
  });
  const table: [unknown, number, number][] = [
    [undefined, 4, 2],
    [undefined, 3, 1],
    [undefined, 1, 1],
    ['100%', 3, 3],
    ['10%', 4, 1],
    [2, 10, 2],
    ['3', 10, 3],
    [2.7, 10, 2],
  ];
  for (const [max, size, want] of table) {
    it(`max ${JSON.stringify(max)} of ${size} Envoys allows ${want}`, () => {
      assert.equal(maxEnvoys(job(max), size).allowed, want);
    });
  }
  for (const bad of [0, -1, '0%', 'half', true, ['1']]) {
    it(`max ${JSON.stringify(bad)} is a permanent error`, () => {
      assert.throws(() => maxEnvoys(job(bad), 4), PermanentActionError);
    });
  }
});
