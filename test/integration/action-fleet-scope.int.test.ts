/**
 * Least privilege against the simulated fleet for real: every action reads the simulated fleet's
 * marker (spire-healer.io/simulated) off the target through the real adapters (pod labels on the
 * fake Kubernetes API, service annotations on the fake Cloud Run API, agent records and CA subjects
 * on the fake SPIRE server), so a production-scoped context refuses the fleet and changes nothing,
 * and a simulation-scoped one refuses a target that does not carry the marker. The workload records
 * in knowledge are stripped of their labels here: only the live read counts. A workload no platform
 * port can read is judged by its Envoy's /server_info node.metadata.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import { CloudRunAdminClient } from '../../src/adapters/cloudrun/cloudrun-admin.client.js';
import { EnvoyAdminHttp } from '../../src/adapters/envoy/admin-http.js';
import { KubernetesInventory } from '../../src/adapters/kubernetes/kubernetes-inventory.js';
import { RedisAuditLog } from '../../src/adapters/redis/redis-audit-log.js';
import { RedisKnowledgeStore } from '../../src/adapters/redis/redis-knowledge-store.js';
import { GrpcSpireServer } from '../../src/adapters/spire/spire-server.client.js';
import type { ActionContext, ActionScope, RemediationAction } from '../../src/execute/action.js';
import { collectEvidenceAction } from '../../src/execute/actions/collect-evidence.action.js';
import { forceRotationAction } from '../../src/execute/actions/force-rotation.action.js';
import { redeployAction } from '../../src/execute/actions/redeploy.action.js';
import { restartAgentAction } from '../../src/execute/actions/restart-agent.action.js';
import { restartEnvoyAction } from '../../src/execute/actions/restart-envoy.action.js';
import { syncBundleAction } from '../../src/execute/actions/sync-bundle.action.js';
import { processRemediationJob } from '../../src/execute/process-remediation-job.js';
import { systemClock } from '../../src/knowledge/clock.js';
import { makeActionRunId, type ActionParams, type RemediationRequest } from '../../src/knowledge/model/action-run.js';
import { makeIncidentId, type IncidentType } from '../../src/knowledge/model/incident.js';
import type { Workload } from '../../src/knowledge/model/workload.js';
import { buildPod, workloadContainers } from '../../src/sim/k8s/k8s-seed.js';
import { parseScenario } from '../../src/sim/scenario.js';
import { startSimulatedFleet, type RunningSimFleet } from '../../src/sim/simulated-fleet.js';
import { startTestRedis, uniquePrefix } from '../support/redis.js';

const scenario = parseScenario(
  'inline',
  [
    'name: x',
    'fleet:',
    '  svidTtl: 6s',
    '  envoyRestart: 200ms',
    '  nodes: 1',
    '  workloads:',
    '    - {location: shop, name: web, count: 2}',
    '    - {location: acme/europe-west1, name: pay, count: 1, platform: cloudrun}',
    '',
  ].join('\n'),
);
const PAY = 'projects/acme/locations/europe-west1/services/pay-0';
const PRODUCTION: ActionScope = { production: true, simulated: false, trustDomains: [], namespaces: [] };
const SIMULATION: ActionScope = { production: false, simulated: true, trustDomains: [], namespaces: [] };
const signal = (): AbortSignal => new AbortController().signal;

describe("the simulated fleet's marker, read live by every action", () => {
  let redis: Awaited<ReturnType<typeof startTestRedis>>;
  let conn: Redis;
  let fleet: RunningSimFleet;
  let cloudrun: CloudRunAdminClient;
  let spireServer: GrpcSpireServer;
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
    spireServer = new GrpcSpireServer({ endpoint: fleet.sources().spire?.server ?? '', timeoutMs: 2_000 });
  });
  after(async () => {
    spireServer.close();
    await cloudrun.close();
    await fleet.stop();
    await conn.quit();
    await redis.stop();
  });

  /** The fleet's workloads in knowledge without their labels (what the inventories report), an open incident and a job. */
  async function setup(
    action: RemediationAction,
    target: string,
    scope: ActionScope,
    opts: { type?: IncidentType; params?: ActionParams; extra?: Workload } = {},
  ): Promise<{ ctx: ActionContext; job: RemediationRequest }> {
    const prefix = uniquePrefix();
    const store = new RedisKnowledgeStore(conn, prefix);
    for (const w of fleet.targets()) {
      const { labels: _labels, ...unlabelled } = w;
      await store.putWorkload(unlabelled);
    }
    if (opts.extra !== undefined) await store.putWorkload(opts.extra);
    const now = Date.now();
    const type = opts.type ?? 'rotation_failed';
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
    const ctx: ActionContext = {
      store,
      audit: new RedisAuditLog(conn, prefix),
      clock: systemClock,
      envoy: new EnvoyAdminHttp(),
      rotation: { rotateAtFraction: 0.5, graceMs: 500 },
      kubernetes: new KubernetesInventory({ connection: { kind: 'server', server: fleet.kube.url } }),
      cloudrun,
      spireServer,
      scope,
    };
    return {
      ctx,
      job: {
        id: makeActionRunId(id, 0, 1),
        incidentId: id,
        step: 0,
        attempt: 1,
        action: action.name,
        target,
        decidedAt: now,
        shadow: false,
        params: opts.params ?? {},
      },
    };
  }

  /** What a refused action must leave untouched. */
  const worldState = (): string =>
    JSON.stringify({
      pods: fleet.kube.store
        .list('pods')
        .map((p) => [p.metadata.namespace, p.metadata.name, p.metadata.uid])
        .sort(),
      deployment: fleet.kube.store.get('deployments', 'shop', 'web')?.metadata.generation,
      configMap: fleet.kube.store.get('configmaps', 'spire', 'spire-bundle')?.metadata.resourceVersion,
      envoys: ['shop/web-0', 'shop/web-1', 'acme/europe-west1/pay-0'].map((id) => fleet.world.envoy(id).restartCount),
      revisions: fleet.cloudRun?.state.revisions(PAY).length,
      authority: fleet.world.authorityState().active.cert.serialHex,
      agent: fleet.world.agentAttestation('node-0'),
    });

  const refusedInProduction: readonly {
    name: string;
    action: RemediationAction;
    target: string;
    type?: IncidentType;
    params?: ActionParams;
    want: RegExp;
  }[] = [
    {
      name: 'redeploy of a Kubernetes workload',
      action: redeployAction,
      target: 'shop/web-1',
      type: 'mtls_errors',
      want: /^refused: shop\/web-1 belongs to the simulated fleet \(it carries spire-healer\.io\/simulated\) and the config says production: true$/,
    },
    {
      name: 'restart_envoy (quitquitquit)',
      action: restartEnvoyAction,
      target: 'shop/web-0',
      want: /^refused: shop\/web-0 belongs to the simulated fleet/,
    },
    {
      name: 'restart_envoy on Cloud Run',
      action: restartEnvoyAction,
      target: 'acme/europe-west1/pay-0',
      want: /^refused: acme\/europe-west1\/pay-0 belongs to the simulated fleet/,
    },
    {
      name: 'restart_agent',
      action: restartAgentAction,
      target: 'agent:node-0',
      type: 'agent_disconnected',
      want: /^refused: SPIRE agent pod spire\/spire-agent-node-0 belongs to the simulated fleet/,
    },
    {
      name: 'sync_bundle',
      action: syncBundleAction,
      target: 'configmap:spire/spire-bundle',
      type: 'trust_bundle_drift',
      want: /^refused: ConfigMap spire\/spire-bundle belongs to the simulated fleet/,
    },
    {
      name: 'force_rotation of the authority',
      action: forceRotationAction,
      target: 'trust-domain:example.org',
      params: { mode: 'authority' },
      want: /^refused: trust domain example\.org belongs to the simulated fleet/,
    },
    {
      name: 'force_rotation by agent eviction',
      action: forceRotationAction,
      target: 'agent:node-0',
      params: { waitReattest: '0s' },
      want: /^refused: SPIRE agent spiffe:\/\/example\.org\/\S+ belongs to the simulated fleet/,
    },
  ];
  for (const t of refusedInProduction) {
    it(`production refuses the simulated fleet: ${t.name} ends skipped and changes nothing`, async () => {
      fleet.injectFault({ kind: 'envoy_sds_stuck', target: 'shop/web-0', atMs: 0 });
      const { ctx, job } = await setup(t.action, t.target, PRODUCTION, {
        ...(t.type === undefined ? {} : { type: t.type }),
        ...(t.params === undefined ? {} : { params: t.params }),
      });
      const before = worldState();
      const out = await processRemediationJob(job, new Map([[t.action.name, t.action]]), ctx, signal());
      assert.equal(out.result, 'skipped', out.detail);
      assert.match(out.detail, t.want);
      assert.equal(worldState(), before);
      assert.equal(fleet.actionsOnHealthyTargets(), 0);
    });
  }

  it('a simulation acts on the marked fleet and refuses a pod without the marker; production the other way round', async () => {
    fleet.kube.store.create(
      'pods',
      buildPod({
        namespace: 'shop',
        name: 'real-0',
        node: 'node-0',
        serviceAccount: 'real',
        labels: { app: 'real' },
        annotations: {},
        owner: undefined,
        containers: workloadContainers('real'),
        podIP: '10.9.9.9',
        startedAt: new Date().toISOString(),
      }),
    );
    const real: Workload = {
      id: 'shop/real-0',
      spiffeId: 'spiffe://example.org/ns/shop/sa/real',
      trustDomain: 'example.org',
      platform: 'kubernetes',
      location: 'shop',
      envoyAdminUrl: fleet.adminUrl('shop/web-0'),
    };
    const precheck = async (target: string, scope: ActionScope): Promise<{ proceed: boolean; detail: string }> => {
      const { ctx, job } = await setup(collectEvidenceAction, target, scope, { extra: real });
      return collectEvidenceAction.precheck(job, ctx, signal());
    };
    assert.deepEqual(await precheck('shop/web-0', SIMULATION), {
      proceed: true,
      detail: 'collecting Envoy /certs and /stats of shop/web-0',
    });
    assert.equal((await precheck('agent:node-0', SIMULATION)).proceed, true);
    const refused = await precheck('shop/real-0', SIMULATION);
    assert.equal(refused.proceed, false);
    assert.equal(
      refused.detail,
      "refused: shop/real-0 does not carry the simulated fleet's marker spire-healer.io/simulated; demo and simulate never touch real targets",
    );
    assert.equal((await precheck('shop/real-0', PRODUCTION)).proceed, true);
    assert.match(
      (await precheck('agent:node-0', PRODUCTION)).detail,
      /^refused: SPIRE agent pod spire\/spire-agent-node-0 belongs to the simulated fleet/,
    );
  });

  it("a workload only listed under targets: (no pod, no service, no labels) is judged by its Envoy's /server_info node.metadata", async () => {
    const listed = (id: string, envoyAdminUrl: string, platform: Workload['platform'] = 'kubernetes'): Workload => ({
      id,
      spiffeId: 'spiffe://example.org/vm/billing',
      trustDomain: 'example.org',
      platform,
      location: platform === 'kubernetes' ? 'legacy' : 'acme/europe-west1',
      envoyAdminUrl,
    });
    const run = async (action: RemediationAction, w: Workload, scope: ActionScope) => {
      const { ctx, job } = await setup(action, w.id, scope, { extra: w });
      return processRemediationJob(job, new Map([[action.name, action]]), ctx, signal());
    };
    // A simulated Envoy behind a hand-listed Kubernetes workload (no such pod) or Cloud Run one (no such service).
    for (const w of [
      listed('legacy/billing-0', fleet.adminUrl('shop/web-1')),
      listed('acme/europe-west1/billing', fleet.adminUrl('shop/web-1'), 'cloudrun'),
    ]) {
      const before = worldState();
      const refused = await run(restartEnvoyAction, w, PRODUCTION);
      assert.equal(refused.result, 'skipped', refused.detail);
      assert.equal(
        refused.detail,
        `refused: ${w.id} belongs to the simulated fleet (it carries spire-healer.io/simulated) and the config says production: true`,
      );
      assert.equal(worldState(), before, 'nothing restarted');
      const sim = await run(collectEvidenceAction, w, SIMULATION);
      assert.equal(sim.result, 'succeeded', sim.detail);
    }

    // An Envoy whose node metadata does not carry the marker: production may act on it, a simulation refuses it.
    const plain = createServer((req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' }).end(
        JSON.stringify(
          req.url === '/server_info'
            ? {
                state: 'LIVE',
                uptime_current_epoch: '60s',
                node: { id: 'billing', metadata: { team: 'billing', 'spire-healer.io/simulated': 'yes' } },
              }
            : { certificates: [], stats: [] },
        ),
      );
    });
    await new Promise<void>((resolve) => plain.listen(0, '127.0.0.1', resolve));
    try {
      const w = listed('legacy/billing-1', `http://127.0.0.1:${(plain.address() as AddressInfo).port}`);
      assert.equal((await run(collectEvidenceAction, w, PRODUCTION)).result, 'succeeded');
      const refused = await run(collectEvidenceAction, w, SIMULATION);
      assert.equal(refused.result, 'skipped');
      assert.equal(
        refused.detail,
        "refused: legacy/billing-1 does not carry the simulated fleet's marker spire-healer.io/simulated; demo and simulate never touch real targets",
      );
    } finally {
      plain.closeAllConnections();
      await new Promise((resolve) => plain.close(resolve));
    }

    // An Envoy that cannot be read: no guess, the job fails and is retried.
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const closedPort = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const gone = await run(collectEvidenceAction, listed('legacy/billing-2', `http://127.0.0.1:${closedPort}`), PRODUCTION);
    assert.equal(gone.result, 'failed');
    assert.equal(gone.transient, true);
    assert.match(gone.detail, /cannot tell whether legacy\/billing-2 belongs to the simulated fleet: .*server_info.*ECONNREFUSED/);
  });
});
