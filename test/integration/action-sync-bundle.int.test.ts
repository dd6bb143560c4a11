/**
 * sync_bundle against the simulated fleet: the server's bundle read through the real SPIRE gRPC
 * client, written into the ConfigMap through the real client-node adapter on the fake API server
 * (whose world then counts the ConfigMap as synced), knowledge in a real Redis; a concurrent writer
 * between read and write is played by the fake's request interceptor.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { EnvoyAdminHttp } from '../../src/adapters/envoy/admin-http.js';
import { parseTrustBundle } from '../../src/adapters/kubernetes/trust-bundle.js';
import { KubernetesInventory } from '../../src/adapters/kubernetes/kubernetes-inventory.js';
import { RedisAuditLog } from '../../src/adapters/redis/redis-audit-log.js';
import { RedisKnowledgeStore } from '../../src/adapters/redis/redis-knowledge-store.js';
import { GrpcSpireServer } from '../../src/adapters/spire/spire-server.client.js';
import type { ActionContext, ActionScope } from '../../src/execute/action.js';
import { syncBundleAction } from '../../src/execute/actions/sync-bundle.action.js';
import { processRemediationJob } from '../../src/execute/process-remediation-job.js';
import { systemClock } from '../../src/knowledge/clock.js';
import { makeActionRunId, type ActionParams, type RemediationRequest } from '../../src/knowledge/model/action-run.js';
import { makeIncidentId } from '../../src/knowledge/model/incident.js';
import type { KubeObject } from '../../src/sim/k8s/k8s-store.js';
import { parseScenario } from '../../src/sim/scenario.js';
import { startSimulatedFleet, type RunningSimFleet } from '../../src/sim/simulated-fleet.js';
import { startTestRedis, uniquePrefix } from '../support/redis.js';

const scenario = parseScenario(
  'inline',
  'name: x\nfleet:\n  svidTtl: 10s\n  nodes: 1\n  workloads:\n    - {location: shop, name: web, count: 1}\n',
);
const actions = new Map([[syncBundleAction.name, syncBundleAction]]);
const CM = 'configmap:spire/spire-bundle';
const CM_PATH = '/api/v1/namespaces/spire/configmaps/spire-bundle';
const signal = (): AbortSignal => new AbortController().signal;

describe('sync_bundle on the simulated fleet', () => {
  let redis: Awaited<ReturnType<typeof startTestRedis>>;
  let conn: Redis;
  let fleet: RunningSimFleet;
  let spireServer: GrpcSpireServer;
  before(async () => {
    redis = await startTestRedis();
    conn = new Redis(redis.url);
    fleet = await startSimulatedFleet(scenario);
    spireServer = new GrpcSpireServer({ endpoint: fleet.sources().spire?.server ?? '' });
  });
  after(async () => {
    spireServer.close();
    await fleet.stop();
    await conn.quit();
    await redis.stop();
  });

  async function setup(
    target: string,
    params: ActionParams = {},
    scope?: ActionScope,
  ): Promise<{ ctx: ActionContext; job: RemediationRequest }> {
    const prefix = uniquePrefix();
    const store = new RedisKnowledgeStore(conn, prefix);
    const now = Date.now();
    const id = makeIncidentId('trust_bundle_drift', target, now);
    await store.openIncident({
      id,
      type: 'trust_bundle_drift',
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
      spireServer,
      ...(scope === undefined ? {} : { scope }),
    };
    return {
      ctx,
      job: {
        id: makeActionRunId(id, 0, 1),
        incidentId: id,
        step: 0,
        attempt: 1,
        action: 'sync_bundle',
        target,
        decidedAt: now,
        shadow: false,
        params,
      },
    };
  }

  const configMap = (): KubeObject => {
    const cm = fleet.kube.store.get('configmaps', 'spire', 'spire-bundle');
    assert.ok(cm);
    return cm;
  };
  const cmPrints = (): string[] => {
    const cm = configMap();
    const parsed = parseTrustBundle(
      { namespace: 'spire', name: 'spire-bundle', resourceVersion: cm.metadata.resourceVersion, data: cm.data as Record<string, string> },
      'bundle.crt',
    );
    assert.deepEqual(parsed.problems, []);
    return parsed.certificates.map((c) => c.sha256).sort();
  };
  const serverPrints = async (): Promise<string[]> =>
    (await spireServer.getBundle()).x509Authorities.map((a) => a.certificate.sha256).sort();
  /** Puts the ConfigMap back on the first CA only (drift again), as a stale writer would. */
  const driftAgain = (): void => {
    const cm = configMap();
    fleet.kube.store.update('configmaps', {
      ...cm,
      data: { 'bundle.crt': fleet.world.authorityState().old?.cert.pem ?? fleet.world.trustBundle().certs[0]?.pem ?? '' },
    });
  };

  it('skips a ConfigMap that already holds the server bundle, comparing SHA-256 fingerprints', async () => {
    const { ctx, job } = await setup(CM);
    const out = await processRemediationJob(job, actions, ctx, signal());
    assert.equal(out.result, 'skipped', out.detail);
    assert.match(
      out.detail,
      /^ConfigMap spire\/spire-bundle key bundle\.crt already holds the server's 1 X\.509 authorities \([0-9a-f]{12}\): nothing to sync$/,
    );
  });

  it('writes the rotated bundle the ConfigMap missed: the ConfigMap equals the server bundle and the world fault is healed', async () => {
    fleet.injectFault({ kind: 'ca_rotation_not_propagated', target: 'configmap', atMs: 0 });
    assert.equal((await serverPrints()).length, 2);
    assert.equal(cmPrints().length, 1);
    const { ctx, job } = await setup(CM);
    const out = await processRemediationJob(job, actions, ctx, signal());
    assert.equal(out.result, 'succeeded', out.detail);
    assert.match(
      out.detail,
      /^wrote the server's 2 X\.509 authorities \([0-9a-f]{12}, [0-9a-f]{12}, sequence 2\) to ConfigMap spire\/spire-bundle key bundle\.crt \(resourceVersion \d+ → \d+\)$/,
    );
    assert.deepEqual(cmPrints(), await serverPrints());
    assert.deepEqual(
      fleet.world.configMapBundle().map((c) => c.serialHex),
      fleet.world.trustBundle().certs.map((c) => c.serialHex),
    );
    assert.ok(
      fleet.faults().every((f) => f.healedAt !== null),
      'ca_rotation_not_propagated on the ConfigMap healed',
    );
    assert.equal(fleet.actionsOnHealthyTargets(), 0);
    const events = fleet.kube.store.list('events', 'spire') as unknown as {
      reason: string;
      involvedObject: { kind: string; name: string };
    }[];
    assert.deepEqual(
      events.map((e) => [e.reason, e.involvedObject.kind, e.involvedObject.name]),
      [['SpireHealerBundleSync', 'ConfigMap', 'spire-bundle']],
    );
    const again = await syncBundleAction.precheck(job, ctx, signal());
    assert.equal(again.proceed, false);
  });

  it('re-reads and retries after a 409 Conflict, keeping the concurrent change (trust-domain target)', async () => {
    driftAgain();
    fleet.kube.server.faults.interceptRequests(
      { path: CM_PATH, method: 'PUT' },
      () => {
        const cm = configMap();
        fleet.kube.store.update('configmaps', {
          ...cm,
          metadata: { ...cm.metadata, annotations: { ...cm.metadata.annotations, 'example.com/touched': 'yes' } },
        });
      },
      1,
    );
    const { ctx, job } = await setup('trust-domain:example.org');
    const out = await processRemediationJob(job, actions, ctx, signal());
    assert.equal(out.result, 'succeeded', out.detail);
    assert.match(out.detail, /after 1 conflict\(s\) \(409, re-read and retried\)/);
    assert.deepEqual(cmPrints(), await serverPrints());
    assert.equal(configMap().metadata.annotations?.['example.com/touched'], 'yes', 'the concurrent change is not lost');
    assert.equal(fleet.kube.server.faults.requests().filter((r) => r.method === 'PUT' && r.url.startsWith(CM_PATH)).length >= 2, true);
  });

  it('gives up (to be retried) when the ConfigMap keeps changing under it', async () => {
    driftAgain();
    let n = 0;
    fleet.kube.server.faults.interceptRequests(
      { path: CM_PATH, method: 'PUT' },
      () => {
        const cm = configMap();
        fleet.kube.store.update('configmaps', {
          ...cm,
          metadata: { ...cm.metadata, annotations: { ...cm.metadata.annotations, 'example.com/n': String(++n) } },
        });
      },
      Number.POSITIVE_INFINITY,
    );
    try {
      const { ctx, job } = await setup(CM, { maxConflicts: 2 });
      const out = await processRemediationJob(job, actions, ctx, signal());
      assert.equal(out.result, 'failed');
      assert.match(out.detail, /kept changing under the write: 3 conflicts \(409\), giving up for now/);
      assert.equal(n, 3);
      assert.equal(cmPrints().length, 1, 'nothing written');
    } finally {
      fleet.kube.server.faults.clear();
    }
  });

  it('refuses a trust domain the server does not serve, and a ConfigMap outside the namespaces in scope', async () => {
    const other = await setup('trust-domain:other.org');
    const out = await processRemediationJob(other.job, actions, other.ctx, signal());
    assert.equal(out.result, 'failed');
    assert.match(out.detail, /serves trust domain example\.org, not other\.org/);
    const scoped = await setup(CM, {}, { production: false, simulated: true, trustDomains: [], namespaces: ['shop'] });
    const refused = await processRemediationJob(scoped.job, actions, scoped.ctx, signal());
    assert.equal(refused.result, 'skipped');
    assert.match(refused.detail, /^refused: ConfigMap spire\/spire-bundle is in namespace spire, outside the configured shop$/);
    const missing = await setup('configmap:spire/nope');
    assert.match((await processRemediationJob(missing.job, actions, missing.ctx, signal())).detail, /ConfigMap spire\/nope does not exist/);
  });
});
