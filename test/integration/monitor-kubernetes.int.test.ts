/**
 * Kubernetes inventory → knowledge: the real client-node adapter against the fake API server,
 * applied by KubernetesInventorySync into a real Redis.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { KubernetesInventory } from '../../src/adapters/kubernetes/kubernetes-inventory.js';
import { RedisAuditLog } from '../../src/adapters/redis/redis-audit-log.js';
import { RedisKnowledgeStore } from '../../src/adapters/redis/redis-knowledge-store.js';
import { AGENT_ADMIN_ENDPOINT_ANNOTATION, KubernetesInventorySync } from '../../src/monitor/apply-kubernetes-inventory.js';
import type { Incident } from '../../src/knowledge/model/incident.js';
import { matchMismatch } from '../../src/plan/playbooks/match-playbook.js';
import { gatherSubjectFacts } from '../../src/plan/subject-facts.js';
import type { KubeInventory } from '../../src/ports/kubernetes.port.js';
import { createTrustDomainCa } from '../../src/sim/certs.js';
import { FakeKubeApiServer } from '../../src/sim/k8s/k8s-api-server.js';
import { seedKubernetes } from '../../src/sim/k8s/k8s-seed.js';
import { KubeStore } from '../../src/sim/k8s/k8s-store.js';
import { uniquePrefix, withRedis } from '../support/redis.js';

const clock = { now: () => Date.now() };

describe('Kubernetes inventory → knowledge (client-node against the fake API server, real Redis)', () => {
  const redis = withRedis();
  let store: KubeStore;
  let server: FakeKubeApiServer;
  let adapter: KubernetesInventory;
  let caSerial = '';

  before(async () => {
    const ca = await createTrustDomainCa('example.org', Date.now());
    caSerial = ca.cert.serialHex;
    store = new KubeStore();
    seedKubernetes(store, {
      nodes: ['node-a', 'node-b'],
      spireNamespace: 'spire',
      bundlePem: ca.cert.pem,
      agents: [
        { node: 'node-a', podName: 'spire-agent-a', annotations: { [AGENT_ADMIN_ENDPOINT_ANNOTATION]: 'unix:///run/spire/a/admin.sock' } },
        { node: 'node-b', podName: 'spire-agent-b' },
      ],
      workloads: [
        {
          id: 'shop/web-0',
          namespace: 'shop',
          podName: 'web-0',
          node: 'node-a',
          serviceAccount: 'web',
          owner: { kind: 'Deployment', name: 'web' },
          spiffeId: 'spiffe://example.org/ns/shop/sa/web',
          envoyAdminUrl: 'http://127.0.0.1:1/envoy/shop%2Fweb-0',
        },
        {
          id: 'shop/db-0',
          namespace: 'shop',
          podName: 'db-0',
          node: 'node-b',
          serviceAccount: 'db',
          owner: { kind: 'StatefulSet', name: 'db' },
          spiffeId: 'spiffe://example.org/ns/shop/sa/db',
        },
      ],
    });
    server = new FakeKubeApiServer(store);
    const { url } = await server.start();
    adapter = new KubernetesInventory({
      connection: { kind: 'server', server: url },
      trustDomain: 'example.org',
      snapshotThrottleMs: 20,
      backoff: { initialMs: 50, maxMs: 200 },
    });
  });
  after(async () => {
    await server.close();
  });

  it('enrols Envoy pods as workloads with node, owner and selectors, records the bundle ConfigMap, discovers annotated agents, and forgets deleted pods', async () => {
    const conn = redis.connect();
    const prefix = uniquePrefix('k8s');
    const kstore = new RedisKnowledgeStore(conn, prefix);
    const sync = new KubernetesInventorySync({
      store: kstore,
      audit: new RedisAuditLog(conn, prefix),
      clock,
      bundleConfigMap: 'spire/spire-bundle',
    });
    const snapshots: KubeInventory[] = [];
    const watch = adapter.watchInventory({
      onSnapshot: (inv) => {
        snapshots.push(inv);
      },
      onError: () => undefined,
    });
    const next = async (pred: (inv: KubeInventory) => boolean): Promise<KubeInventory> => {
      const deadline = Date.now() + 5_000;
      for (;;) {
        const s = snapshots.at(-1);
        if (s !== undefined && pred(s)) return s;
        if (Date.now() > deadline) throw new Error('no matching snapshot');
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    try {
      const first = await sync.apply(await next(() => true));
      assert.deepEqual([first.workloads, first.added, first.removed], [2, 2, 0]);
      assert.deepEqual(
        first.agents,
        [{ node: 'node-a', adminEndpoint: 'unix:///run/spire/a/admin.sock' }],
        'only the annotated agent is a target',
      );
      const web = await kstore.getWorkload('shop/web-0');
      assert.ok(web);
      assert.deepEqual(
        { node: web.node, owner: web.owner, url: web.envoyAdminUrl, platform: web.platform, location: web.location },
        {
          node: 'node-a',
          owner: { kind: 'Deployment', name: 'web' },
          url: 'http://127.0.0.1:1/envoy/shop%2Fweb-0',
          platform: 'kubernetes',
          location: 'shop',
        },
      );
      assert.deepEqual(
        web.selectors?.slice(0, 3).map((s) => `${s.type}:${s.value}`),
        ['k8s:ns:shop', 'k8s:sa:web', 'k8s:pod-name:web-0'],
      );
      assert.deepEqual(Object.keys(web.labels ?? {}).sort(), ['app', 'pod-template-hash'], "the pod's labels");
      assert.equal(web.labels?.app, 'web');
      const db = await kstore.getWorkload('shop/db-0');
      assert.ok(db);
      assert.match(db.envoyAdminUrl, /^http:\/\/10\.[\d.]+:9901$/, 'podIP + the envoy-admin container port');
      assert.deepEqual(db.labels, { app: 'db' });
      const bundle = await kstore.latestObservation('configmap:spire/spire-bundle', 'k8s.bundle');
      assert.ok(bundle?.data.kind === 'k8s.bundle');
      assert.deepEqual(
        bundle.data.certificates.map((c) => c.serialNumber),
        [caSerial],
      );

      const again = await sync.apply(await next(() => true));
      assert.deepEqual([again.added, again.removed, again.changed], [0, 0, 0], 'an unchanged snapshot writes nothing new');

      // A relabelled pod: the workload follows, and a playbook's match.labels now covers it.
      const pod = store.get('pods', 'shop', 'web-0');
      assert.ok(pod);
      store.update('pods', { ...pod, metadata: { ...pod.metadata, labels: { ...pod.metadata.labels, tier: 'edge' } } });
      const relabelled = await sync.apply(
        await next((inv) => inv.workloads.some((w) => w.id === 'shop/web-0' && w.labels.tier === 'edge')),
      );
      assert.deepEqual([relabelled.added, relabelled.removed], [0, 0]);
      const incident: Incident = {
        id: 'i',
        type: 'rotation_failed',
        subject: 'shop/web-0',
        status: 'open',
        openedAt: 0,
        resolvedAt: null,
        explanation: '',
        evidence: [],
        history: [],
      };
      const facts = await gatherSubjectFacts(kstore, incident);
      assert.equal(facts.labels.tier, 'edge');
      assert.equal(matchMismatch({ types: ['rotation_failed'], labels: { app: 'web', tier: 'edge' } }, incident, facts), null);
      assert.equal(
        matchMismatch({ types: ['rotation_failed'], labels: { tier: 'core' } }, incident, facts),
        'label tier=core not on shop/web-0',
      );

      store.delete('pods', 'shop', 'db-0');
      const gone = await sync.apply(await next((inv) => !inv.workloads.some((w) => w.id === 'shop/db-0')));
      assert.equal(gone.removed, 1);
      assert.equal(await kstore.getWorkload('shop/db-0'), null);
    } finally {
      await watch.close();
    }
  });

  it('a garbled ConfigMap becomes problems on the bundle observation, and a failure is a probe.error on the resource', async () => {
    const conn = redis.connect();
    const prefix = uniquePrefix('k8s');
    const kstore = new RedisKnowledgeStore(conn, prefix);
    const sync = new KubernetesInventorySync({
      store: kstore,
      audit: new RedisAuditLog(conn, prefix),
      clock,
      bundleConfigMap: 'spire/spire-bundle',
    });
    await sync.apply({
      workloads: [],
      agents: [],
      controllers: [],
      degraded: [],
      observedAtMs: Date.now(),
      bundle: {
        namespace: 'spire',
        name: 'spire-bundle',
        key: 'bundle.crt',
        resourceVersion: '1',
        certificates: [],
        problems: ['spire/spire-bundle key bundle.crt: no PEM block'],
      },
    });
    const b = await kstore.latestObservation('configmap:spire/spire-bundle', 'k8s.bundle');
    assert.ok(b?.data.kind === 'k8s.bundle');
    assert.deepEqual(b.data.problems, ['spire/spire-bundle key bundle.crt: no PEM block']);
    // A watch reports changes only: refresh() re-stamps the unchanged ConfigMap so it never looks stale, without auditing.
    const audited = (await kstore.listLatestObservations()).length + (await new RedisAuditLog(conn, prefix).list()).length;
    await new Promise((r) => setTimeout(r, 5));
    assert.equal(await sync.refresh(), true);
    const again = await kstore.latestObservation('configmap:spire/spire-bundle', 'k8s.bundle');
    assert.ok(again !== null && again.observedAt > b.observedAt);
    assert.equal(again.stateSince, b.stateSince);
    assert.equal((await kstore.listLatestObservations()).length + (await new RedisAuditLog(conn, prefix).list()).length, audited);
    await sync.failure({
      message: 'kubernetes list pods at http://x failed: HTTP 500',
      endpoint: 'http://x',
      resource: 'pods',
      code: 'server_error',
      httpStatus: 500,
    });
    const e = await kstore.latestObservation('kubernetes:pods', 'k8s.inventory');
    assert.ok(e?.data.kind === 'probe.error');
    assert.match(e.data.error, /HTTP 500/);
  });
});
