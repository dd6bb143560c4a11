/**
 * redeploy and the restart_envoy platform variants against the simulated fleet: the real
 * client-node adapter on the fake API server (whose controllers replace the pods and whose world
 * restarts their Envoys), the real ServicesClient adapter on the fake Cloud Run Admin API (whose new
 * revision heals cloudrun_revision_not_ready), knowledge in a real Redis.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { CloudRunAdminClient } from '../../src/adapters/cloudrun/cloudrun-admin.client.js';
import { EnvoyAdminHttp } from '../../src/adapters/envoy/admin-http.js';
import { KubernetesInventory } from '../../src/adapters/kubernetes/kubernetes-inventory.js';
import { RedisAuditLog } from '../../src/adapters/redis/redis-audit-log.js';
import { RedisKnowledgeStore } from '../../src/adapters/redis/redis-knowledge-store.js';
import { PermanentActionError, type ActionContext } from '../../src/execute/action.js';
import { redeployAction, restartedAtOf } from '../../src/execute/actions/redeploy.action.js';
import { deleteWorkloadPod, newCloudRunRevision, REVISION_ANNOTATION } from '../../src/execute/actions/restart-envoy-platform.js';
import { processRemediationJob } from '../../src/execute/process-remediation-job.js';
import { systemClock } from '../../src/knowledge/clock.js';
import { makeActionRunId, type RemediationRequest } from '../../src/knowledge/model/action-run.js';
import { makeIncidentId, type IncidentType } from '../../src/knowledge/model/incident.js';
import type { Workload } from '../../src/knowledge/model/workload.js';
import { buildPod, workloadContainers } from '../../src/sim/k8s/k8s-seed.js';
import type { KubeObject } from '../../src/sim/k8s/k8s-store.js';
import { parseScenario } from '../../src/sim/scenario.js';
import { startSimulatedFleet, type RunningSimFleet } from '../../src/sim/simulated-fleet.js';
import { startTestRedis, uniquePrefix } from '../support/redis.js';

const scenario = parseScenario(
  'inline',
  [
    'name: x',
    'fleet:',
    '  svidTtl: 4s',
    '  envoyRestart: 200ms',
    '  workloads:',
    '    - {location: shop, name: web, count: 2}',
    '    - {location: acme/europe-west1, name: pay, count: 1, platform: cloudrun}',
    '',
  ].join('\n'),
);
const actions = new Map([[redeployAction.name, redeployAction]]);
const PAY = 'projects/acme/locations/europe-west1/services/pay-0';
const signal = (): AbortSignal => new AbortController().signal;
const waitFor = async (what: string, probe: () => boolean, timeoutMs = 15_000): Promise<void> => {
  const deadline = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
};

describe('redeploy and restart_envoy variants on the simulated fleet', () => {
  let redis: Awaited<ReturnType<typeof startTestRedis>>;
  let conn: Redis;
  let fleet: RunningSimFleet;
  let cloudrun: CloudRunAdminClient;
  before(async () => {
    redis = await startTestRedis();
    conn = new Redis(redis.url);
    fleet = await startSimulatedFleet(scenario);
    const endpoint = fleet.sources().cloudRun?.endpoint ?? '';
    cloudrun = new CloudRunAdminClient({
      apiEndpoint: '127.0.0.1',
      port: Number(endpoint.slice(endpoint.lastIndexOf(':') + 1)),
      insecure: true,
      callTimeoutMs: 3_000,
      pollInitialDelayMs: 100,
    });
  });
  after(async () => {
    await cloudrun.close();
    await fleet.stop();
    await conn.quit();
    await redis.stop();
  });

  async function setup(
    target: string,
    type: IncidentType,
    decidedAt = Date.now(),
  ): Promise<{ ctx: ActionContext; job: RemediationRequest; workload: Workload }> {
    const prefix = uniquePrefix();
    const store = new RedisKnowledgeStore(conn, prefix);
    const workload = fleet.targets().find((w) => w.id === target);
    assert.ok(workload);
    await store.putWorkload(workload);
    const id = makeIncidentId(type, target, decidedAt);
    await store.openIncident({
      id,
      type,
      subject: target,
      status: 'open',
      openedAt: decidedAt,
      resolvedAt: null,
      explanation: 'test',
      evidence: [],
      history: [],
    });
    const ctx: ActionContext = {
      store,
      audit: new RedisAuditLog(conn, prefix),
      clock: systemClock,
      envoy: new EnvoyAdminHttp(),
      rotation: { rotateAtFraction: 0.5, graceMs: 500 },
      kubernetes: new KubernetesInventory({ connection: { kind: 'server', server: fleet.kube.url } }),
      cloudrun,
    };
    return {
      ctx,
      job: {
        id: makeActionRunId(id, 2, 1),
        incidentId: id,
        step: 2,
        attempt: 1,
        action: 'redeploy',
        target,
        decidedAt,
        shadow: false,
        params: {},
      },
      workload,
    };
  }

  const pod = (name: string): KubeObject | undefined => fleet.kube.store.get('pods', 'shop', name);
  const deployment = (): KubeObject => {
    const d = fleet.kube.store.get('deployments', 'shop', 'web');
    assert.ok(d);
    return d;
  };
  const restartedAt = (d: KubeObject): string | undefined =>
    (d.spec as { template: { metadata: { annotations?: Record<string, string> } } }).template.metadata.annotations?.[
      'kubectl.kubernetes.io/restartedAt'
    ];

  it('refuses a paused Deployment as a permanent failure and changes nothing', async () => {
    const d = deployment();
    const paused = fleet.kube.store.update('deployments', { ...d, spec: { ...(d.spec as object), paused: true } });
    try {
      const { ctx, job } = await setup('shop/web-0', 'mtls_errors');
      await assert.rejects(
        redeployAction.precheck(job, ctx, signal()),
        (e: unknown) => e instanceof PermanentActionError && /Deployment shop\/web is paused/.test(e.message),
      );
      const out = await processRemediationJob(job, actions, ctx, signal());
      assert.equal(out.result, 'failed');
      assert.match(out.detail, /refused: Deployment shop\/web is paused \(spec\.paused\)/);
      assert.equal(deployment().metadata.generation, paused.metadata.generation);
      assert.equal(restartedAt(deployment()), undefined);
    } finally {
      const cur = deployment();
      fleet.kube.store.update('deployments', { ...cur, spec: { ...(cur.spec as object), paused: false } });
    }
  });

  it('restarts the rollout of the Deployment with a restartedAt fixed per job: new pods, restarted Envoys, an Event', async () => {
    fleet.injectFault({ kind: 'envoy_sds_stuck', target: 'shop/web-1', atMs: 0 });
    const served = fleet.world.envoy('shop/web-1').served;
    assert.ok(served);
    await new Promise((r) => setTimeout(r, Math.max(0, served.notBeforeMs + 2_000 + 600 - Date.now())));
    const { ctx, job } = await setup('shop/web-1', 'rotation_failed');
    const uids = [pod('web-0')?.metadata.uid, pod('web-1')?.metadata.uid];
    const generation = (deployment().metadata.generation ?? 0) + 1;
    const out = await processRemediationJob(job, actions, ctx, signal());
    assert.equal(out.result, 'succeeded', out.detail);
    const stamp = restartedAtOf(job).toISOString().replace('.000Z', 'Z');
    assert.match(
      out.detail,
      new RegExp(
        `rollout restart of Deployment shop/web: spec.template annotation kubectl.kubernetes.io/restartedAt=${stamp} \\(generation ${generation}\\); its 2 pod\\(s\\) are replaced`,
      ),
    );
    assert.equal(restartedAt(deployment()), stamp);
    await waitFor(
      'both pods recreated',
      () =>
        pod('web-0')?.metadata.uid !== uids[0] &&
        pod('web-1')?.metadata.uid !== uids[1] &&
        pod('web-0') !== undefined &&
        pod('web-1') !== undefined,
    );
    assert.equal(pod('web-1')?.metadata.annotations?.['kubectl.kubernetes.io/restartedAt'], stamp);
    assert.equal(fleet.world.envoy('shop/web-1').restartCount, 1);
    assert.equal(fleet.world.envoy('shop/web-0').restartCount, 1, 'a rollout restart replaces every pod of the Deployment');
    await waitFor('the stuck Envoy back with a current SVID', () => fleet.faults().every((f) => f.healedAt !== null));
    const events = fleet.kube.store.list('events', 'shop') as unknown as {
      reason: string;
      involvedObject: { kind: string; name: string };
      message: string;
    }[];
    assert.deepEqual(
      events.map((e) => [e.reason, e.involvedObject.kind, e.involvedObject.name]),
      [['SpireHealerRedeploy', 'Deployment', 'web']],
    );
    assert.match(events[0]?.message ?? '', new RegExp(job.incidentId));

    // Performed again (a redelivery after a crash): the same value, so no new generation and no new pods.
    const after = [pod('web-0')?.metadata.uid, pod('web-1')?.metadata.uid];
    await redeployAction.perform(job, ctx, signal());
    assert.equal(deployment().metadata.generation, generation);
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual([pod('web-0')?.metadata.uid, pod('web-1')?.metadata.uid], after);
    assert.equal(fleet.kube.store.list('events', 'shop').length, 1, 'the Event is recorded once per job');
  });

  it('skips a rotation_failed target whose Envoy already serves a current SVID', async () => {
    const { ctx, job } = await setup('shop/web-0', 'rotation_failed');
    const out = await redeployAction.precheck(job, ctx, signal());
    assert.match(out.detail, /Envoy for shop\/web-0 already serves a current SVID/);
    assert.equal(out.proceed, false);
  });

  it('rolls a new Cloud Run revision that heals cloudrun_revision_not_ready and restarts its Envoy', async () => {
    fleet.injectFault({ kind: 'cloudrun_revision_not_ready', target: 'acme/europe-west1/pay-0', atMs: 0 });
    const { ctx, job } = await setup('acme/europe-west1/pay-0', 'cloudrun_revision_not_ready');
    const check = await redeployAction.precheck(job, ctx, signal());
    assert.equal(check.proceed, true);
    assert.match(check.detail, /is not ready: .*startup probe/);
    const restarts = fleet.world.envoy('acme/europe-west1/pay-0').restartCount;
    const out = await processRemediationJob(job, actions, ctx, signal());
    assert.equal(out.result, 'succeeded', out.detail);
    assert.match(
      out.detail,
      new RegExp(`revision pay-0-[\\w-]+ of ${PAY} is ready and serving \\(template annotation ${REVISION_ANNOTATION}=${job.id}`),
    );
    const revisions = fleet.cloudRun?.state.revisions(PAY) ?? [];
    assert.equal(revisions.length, 2);
    assert.equal(revisions.at(-1)?.state, 'ready');
    assert.equal(fleet.cloudRun?.state.getService(PAY).template?.annotations[REVISION_ANNOTATION], job.id);
    await waitFor(
      'the fault healed by the new revision',
      () => fleet.faults().find((f) => f.kind === 'cloudrun_revision_not_ready')?.healedAt !== null,
    );
    assert.equal(fleet.world.envoy('acme/europe-west1/pay-0').restartCount, restarts + 1);
    const again = await redeployAction.precheck(job, ctx, signal());
    assert.equal(again.proceed, false);
    assert.match(again.detail, /is ready again/);
  });

  it('restart_envoy variant delete_pod: the pod is recreated with a new uid and its Envoy restarts; a bare pod is refused', async () => {
    const { ctx, job, workload } = await setup('shop/web-0', 'rotation_failed', Date.now() - 2_000);
    const before = pod('web-0');
    const restarts = fleet.world.envoy('shop/web-0').restartCount;
    const detail = await deleteWorkloadPod({ ...job, action: 'restart_envoy', params: { method: 'delete_pod' } }, workload, ctx);
    assert.match(detail, /^deleted pod shop\/web-0 \(uid [0-9a-f-]+\); its Deployment web recreates it/);
    await waitFor('the pod recreated', () => pod('web-0') !== undefined && pod('web-0')?.metadata.uid !== before?.metadata.uid);
    assert.equal(fleet.world.envoy('shop/web-0').restartCount, restarts + 1);
    const events = fleet.kube.store.list('events', 'shop') as unknown as {
      reason: string;
      involvedObject: { name: string; uid: string };
    }[];
    assert.ok(
      events.some(
        (e) => e.reason === 'SpireHealerRestart' && e.involvedObject.name === 'web-0' && e.involvedObject.uid === before?.metadata.uid,
      ),
    );
    assert.match(await deleteWorkloadPod(job, workload, ctx), /was recreated after this job was decided/);
    assert.equal(fleet.world.envoy('shop/web-0').restartCount, restarts + 1);

    fleet.kube.store.create(
      'pods',
      buildPod({
        namespace: 'shop',
        name: 'bare-0',
        node: 'node-0',
        serviceAccount: 'web',
        labels: {},
        annotations: {},
        owner: undefined,
        containers: workloadContainers('bare'),
        podIP: '10.9.9.9',
        startedAt: new Date().toISOString(),
      }),
    );
    await assert.rejects(
      deleteWorkloadPod(job, { ...workload, id: 'shop/bare-0' }, ctx),
      (e: unknown) => e instanceof PermanentActionError && /has no controller/.test(e.message),
    );
    assert.ok(fleet.kube.store.get('pods', 'shop', 'bare-0'));
  });

  it('restart_envoy variant on Cloud Run: a new revision', async () => {
    const { ctx, job, workload } = await setup('acme/europe-west1/pay-0', 'rotation_failed');
    const run = fleet.cloudRun;
    assert.ok(run);
    const before = run.state.revisions(PAY).length;
    const detail = await newCloudRunRevision({ ...job, action: 'restart_envoy' }, workload, ctx, signal());
    assert.match(detail, /is ready and serving/);
    const revisions = run.state.revisions(PAY);
    assert.equal(revisions.length, before + 1);
    assert.equal(revisions.at(-1)?.state, 'ready');
  });
});
