import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { KubernetesInventory } from '../../src/adapters/kubernetes/kubernetes-inventory.js';
import { KUBE_RETRY_CLASS, KubernetesError } from '../../src/adapters/kubernetes/kube-failure.js';
import { parseTrustBundle } from '../../src/adapters/kubernetes/trust-bundle.js';
import type { KubeFailure, KubeInventory, KubeInventoryWatch } from '../../src/ports/kubernetes.port.js';
import { createTrustDomainCa } from '../../src/sim/certs.js';
import { FakeKubeApiServer } from '../../src/sim/k8s/k8s-api-server.js';
import { buildPod, seedKubernetes, workloadContainers } from '../../src/sim/k8s/k8s-seed.js';
import { KubeStore } from '../../src/sim/k8s/k8s-store.js';

const TD = 'example.org';

/** Collects snapshots and errors of one watchInventory call. */
function observe(adapter: KubernetesInventory) {
  const snapshots: KubeInventory[] = [];
  const errors: { failure: KubeFailure; retryInMs: number | null }[] = [];
  const watch: KubeInventoryWatch = adapter.watchInventory({
    onSnapshot: (inv) => {
      snapshots.push(inv);
    },
    onError: (failure, retryInMs) => {
      errors.push({ failure, retryInMs });
    },
  });
  const until = async <T>(what: string, probe: () => T | undefined, timeoutMs = 5000): Promise<T> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const v = probe();
      if (v !== undefined) return v;
      if (Date.now() > deadline)
        throw new Error(`timed out waiting for ${what}; errors: ${errors.map((e) => e.failure.message).join(' | ')}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  const snapshot = (what: string, pred: (inv: KubeInventory) => boolean, timeoutMs?: number): Promise<KubeInventory> =>
    until(
      what,
      () => {
        const s = snapshots.at(-1);
        return s !== undefined && pred(s) ? s : undefined;
      },
      timeoutMs,
    );
  return { snapshots, errors, watch, until, snapshot };
}

const hasPod =
  (id: string) =>
  (inv: KubeInventory): boolean =>
    inv.workloads.some((w) => w.id === id);

describe('KubernetesInventory against the fake API server', () => {
  let store: KubeStore;
  let server: FakeKubeApiServer;
  let adapter: KubernetesInventory;
  let caSerials: string[];

  before(async () => {
    const now = Date.now();
    const [ca1, ca2] = await Promise.all([createTrustDomainCa(TD, now), createTrustDomainCa(TD, now)]);
    caSerials = [ca1.cert.serialHex, ca2.cert.serialHex];
    store = new KubeStore({ retainedChanges: 100 });
    seedKubernetes(store, {
      nodes: ['node-a', 'node-b'],
      spireNamespace: 'spire',
      bundlePem: ca1.cert.pem + ca2.cert.pem,
      agents: [
        { node: 'node-b', podName: 'spire-agent-b' },
        { node: 'node-a', podName: 'spire-agent-a', annotations: { note: 'x' } },
      ],
      workloads: [
        {
          id: 'shop/web-1',
          namespace: 'shop',
          podName: 'web-1',
          node: 'node-a',
          serviceAccount: 'web',
          owner: { kind: 'Deployment', name: 'web' },
          spiffeId: 'spiffe://example.org/ns/shop/sa/web',
          envoyAdminUrl: 'http://127.0.0.1:9000/envoy/shop/web-1',
        },
        {
          id: 'shop/db-0',
          namespace: 'shop',
          podName: 'db-0',
          node: 'node-b',
          serviceAccount: 'db',
          owner: { kind: 'StatefulSet', name: 'db' },
          spiffeId: 'spiffe://example.org/db',
        },
        {
          id: 'mesh/gw-x',
          namespace: 'mesh',
          podName: 'gw-x',
          node: 'node-a',
          serviceAccount: 'gw',
          owner: { kind: 'DaemonSet', name: 'gw' },
          spiffeId: 'spiffe://example.org/gw',
        },
      ],
    });
    // A bare pod without annotations or a named admin port, one with a port annotation, and one without Envoy.
    const bare = buildPod({
      namespace: 'misc',
      name: 'bare',
      node: 'node-a',
      serviceAccount: 'lonely',
      labels: {},
      annotations: {},
      owner: undefined,
      containers: [{ name: 'envoy', image: 'envoyproxy/envoy:v1.31.2' }],
      podIP: '10.9.9.9',
      startedAt: '2025-01-01T00:00:00Z',
    });
    store.create('pods', bare);
    store.create(
      'pods',
      buildPod({
        namespace: 'misc',
        name: 'ported',
        node: 'node-b',
        serviceAccount: 's',
        labels: {},
        annotations: { 'spire-healer.io/envoy-admin-port': '15000' },
        owner: undefined,
        containers: workloadContainers('p'),
        podIP: '10.9.9.8',
        startedAt: '2025-01-01T00:00:00Z',
      }),
    );
    store.create(
      'pods',
      buildPod({
        namespace: 'misc',
        name: 'no-envoy',
        node: 'node-b',
        serviceAccount: 's',
        labels: {},
        annotations: {},
        owner: undefined,
        containers: [{ name: 'app', image: 'nginx' }],
        podIP: '10.9.9.7',
        startedAt: '2025-01-01T00:00:00Z',
      }),
    );
    server = new FakeKubeApiServer(store);
    const { url } = await server.start();
    adapter = new KubernetesInventory({
      connection: { kind: 'server', server: url },
      trustDomain: TD,
      snapshotThrottleMs: 20,
      backoff: { initialMs: 50, maxMs: 400 },
    });
  });
  after(async () => {
    await server.close();
  });

  it('emits an initial snapshot: owners through ReplicaSets, admin URL rules, SPIFFE IDs, agents per node, bundle, controllers', async () => {
    const o = observe(adapter);
    try {
      const inv = await o.snapshot('initial snapshot', () => true);
      assert.deepEqual(
        inv.workloads.map((w) => w.id),
        ['mesh/gw-x', 'misc/bare', 'misc/ported', 'shop/db-0', 'shop/web-1'],
      );
      const byId = new Map(inv.workloads.map((w) => [w.id, w]));
      assert.deepEqual(byId.get('shop/web-1')?.owner, { kind: 'Deployment', name: 'web' });
      assert.deepEqual(byId.get('shop/db-0')?.owner, { kind: 'StatefulSet', name: 'db' });
      assert.deepEqual(byId.get('mesh/gw-x')?.owner, { kind: 'DaemonSet', name: 'gw' });
      assert.equal(byId.get('misc/bare')?.owner, null);
      assert.equal(byId.get('shop/web-1')?.envoyAdminUrl, 'http://127.0.0.1:9000/envoy/shop/web-1', 'annotation wins');
      const dbIp = byId.get('shop/db-0')?.podIP;
      assert.equal(byId.get('shop/db-0')?.envoyAdminUrl, `http://${dbIp ?? ''}:9901`, 'named envoy-admin container port');
      assert.equal(byId.get('misc/ported')?.envoyAdminUrl, 'http://10.9.9.8:15000', 'port annotation');
      assert.equal(byId.get('misc/bare')?.envoyAdminUrl, 'http://10.9.9.9:9901', 'default port');
      assert.equal(byId.get('shop/db-0')?.spiffeId, 'spiffe://example.org/db', 'annotation');
      assert.equal(byId.get('misc/bare')?.spiffeId, 'spiffe://example.org/ns/misc/sa/lonely', 'derived from namespace and service account');
      assert.equal(byId.get('shop/web-1')?.node, 'node-a');
      assert.equal(byId.get('shop/web-1')?.ready, true);
      assert.equal(byId.get('shop/web-1')?.phase, 'Running');
      assert.deepEqual(
        inv.agents.map((a) => [a.node, a.name, a.ready]),
        [
          ['node-a', 'spire-agent-a', true],
          ['node-b', 'spire-agent-b', true],
        ],
      );
      assert.deepEqual(inv.agents[0]?.annotations, { note: 'x' });
      assert.deepEqual(
        inv.bundle?.certificates.map((c) => c.serialHex),
        caSerials,
      );
      assert.deepEqual(inv.bundle.problems, []);
      assert.equal(inv.bundle.certificates[0]?.isCa, true);
      assert.match(inv.bundle.certificates[0].sha256, /^[0-9a-f]{64}$/);
      assert.deepEqual(
        inv.controllers.map((c) => `${c.kind}/${c.namespace}/${c.name}`),
        ['DaemonSet/mesh/gw', 'DaemonSet/spire/spire-agent', 'Deployment/shop/web', 'StatefulSet/shop/db'],
      );
      assert.deepEqual(inv.degraded, []);
      assert.deepEqual(o.errors, []);
    } finally {
      await o.watch.close();
    }
  });

  it('follows pods being added and deleted, and resumes after the server closes its watches', async () => {
    const o = observe(adapter);
    try {
      await o.snapshot('initial', hasPod('shop/web-1'));
      store.create(
        'pods',
        buildPod({
          namespace: 'shop',
          name: 'web-9',
          node: 'node-b',
          serviceAccount: 'web',
          labels: {},
          annotations: {},
          owner: undefined,
          containers: workloadContainers('web'),
          podIP: '10.1.1.1',
          startedAt: '2025-01-01T00:00:00Z',
        }),
      );
      await o.snapshot('web-9 added', hasPod('shop/web-9'));
      store.delete('pods', 'shop', 'web-9');
      await o.snapshot('web-9 deleted', (inv) => !hasPod('shop/web-9')(inv));

      await o.until('all six watches open', () => (server.openWatches >= 6 ? true : undefined));
      assert.ok(server.faults.closeWatches() >= 6, 'every informer had a watch open');
      await o.until('watches reopened', () => (server.openWatches >= 6 ? true : undefined));
      store.create(
        'pods',
        buildPod({
          namespace: 'shop',
          name: 'web-10',
          node: 'node-b',
          serviceAccount: 'web',
          labels: {},
          annotations: {},
          owner: undefined,
          containers: workloadContainers('web'),
          podIP: '10.1.1.2',
          startedAt: '2025-01-01T00:00:00Z',
        }),
      );
      await o.snapshot('web-10 after resume', hasPod('shop/web-10'));
      store.delete('pods', 'shop', 'web-10');
      await o.snapshot('web-10 gone', (inv) => !hasPod('shop/web-10')(inv));
      assert.deepEqual(o.errors, [], 'a clean server-side close is not an error');
    } finally {
      await o.watch.close();
    }
  });

  it('re-lists after 410 Gone and ends up correct, including changes made meanwhile', async () => {
    const o = observe(adapter);
    try {
      await o.snapshot('initial', hasPod('shop/web-1'));
      const listsBefore = server.faults.requests().filter((r) => !r.watch && r.url.startsWith('/api/v1/pods')).length;
      server.faults.expireNextWatches('pods', 1);
      server.faults.closeWatches();
      // While the pods informer is re-listing, one pod appears and the history is compacted.
      store.create(
        'pods',
        buildPod({
          namespace: 'shop',
          name: 'late',
          node: 'node-a',
          serviceAccount: 'web',
          labels: {},
          annotations: {},
          owner: undefined,
          containers: workloadContainers('web'),
          podIP: '10.1.1.3',
          startedAt: '2025-01-01T00:00:00Z',
        }),
      );
      store.compact();
      await o.snapshot('late pod after re-list', hasPod('shop/late'));
      const lists = server.faults.requests().filter((r) => !r.watch && r.url.startsWith('/api/v1/pods')).length;
      assert.ok(lists > listsBefore, 'the pods informer listed again');
      store.delete('pods', 'shop', 'late');
      await o.snapshot('late pod deleted (watch running again)', (inv) => !hasPod('shop/late')(inv));
      assert.deepEqual(o.errors, [], '410 is handled by re-listing, not reported as a failure');
    } finally {
      await o.watch.close();
    }
  });

  it('reports a failing list through onError (endpoint and resource named), backs off, and recovers when the fault clears', async () => {
    server.faults.failRequests({ path: '/api/v1/pods', watch: false }, { kind: 'status', code: 500 }, 3);
    const o = observe(adapter);
    try {
      await o.until('three errors', () => (o.errors.length >= 3 ? true : undefined));
      const first = o.errors[0];
      assert.ok(first);
      assert.equal(first.failure.endpoint, server.url);
      assert.match(first.failure.message, new RegExp(server.url.replace(/[.:/]/g, '\\$&')));
      assert.match(first.failure.message, /list pods/);
      assert.match(first.failure.message, /HTTP 500/);
      assert.match(first.failure.resource, /^pods/);
      assert.equal(first.failure.code, 'server_error');
      assert.equal(KUBE_RETRY_CLASS[first.failure.code], 'retryable');
      const delays = o.errors.slice(0, 3).map((e) => e.retryInMs ?? 0);
      assert.ok((delays[2] ?? 0) > (delays[0] ?? 0), `backoff grows: ${delays.join(',')}`);
      const inv = await o.snapshot('recovered', hasPod('shop/web-1'));
      assert.deepEqual(inv.degraded, []);

      // A watch (not list) answered with 500: reported as a watch failure, then the informer starts over.
      const before = o.errors.length;
      server.faults.failRequests({ path: '/api/v1/pods', watch: true }, { kind: 'status', code: 500 }, 1);
      server.faults.closeWatches();
      await o.until('watch error', () => (o.errors.length > before ? true : undefined));
      assert.match(o.errors[before]?.failure.message ?? '', /watch pods/);
      assert.equal(o.errors[before]?.failure.httpStatus, 500);
      store.create(
        'pods',
        buildPod({
          namespace: 'shop',
          name: 'after-500',
          node: 'node-a',
          serviceAccount: 'web',
          labels: {},
          annotations: {},
          owner: undefined,
          containers: workloadContainers('web'),
          podIP: '10.1.1.4',
          startedAt: '2025-01-01T00:00:00Z',
        }),
      );
      await o.snapshot('pod after watch 500', hasPod('shop/after-500'));
      store.delete('pods', 'shop', 'after-500');
    } finally {
      await o.watch.close();
    }
  });

  it('reports garbage JSON as malformed and a dead server as a retryable network failure with capped backoff', async () => {
    server.faults.failRequests({ path: '/api/v1/namespaces/spire/configmaps', watch: false }, { kind: 'garbage' }, 1);
    const o = observe(adapter);
    try {
      await o.snapshot('recovered after garbage', (inv) => inv.bundle !== null);
      const garbage = o.errors.find((e) => e.failure.resource.startsWith('configmaps spire/spire-bundle'));
      assert.ok(garbage, 'the garbage was reported');
      assert.equal(garbage.failure.code, 'malformed');
    } finally {
      await o.watch.close();
    }

    const port = await new Promise<number>((resolve) => {
      const s = createServer();
      s.listen(0, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => {
          resolve(p);
        });
      });
    });
    const dead = new KubernetesInventory({
      connection: { kind: 'server', server: `http://127.0.0.1:${port}` },
      backoff: { initialMs: 20, maxMs: 80 },
    });
    const d = observe(dead);
    try {
      await d.until('repeated errors', () =>
        d.errors.filter((e) => e.failure.resource === 'pods (/api/v1/pods)').length >= 4 ? true : undefined,
      );
      const pods = d.errors.filter((e) => e.failure.resource === 'pods (/api/v1/pods)');
      assert.equal(pods[0]?.failure.code, 'network');
      assert.equal(KUBE_RETRY_CLASS[pods[0].failure.code], 'retryable');
      assert.match(pods[0].failure.message, new RegExp(`127\\.0\\.0\\.1:${port}`));
      assert.ok(
        pods.every((e) => (e.retryInMs ?? Infinity) <= 80 * 1.2 + 1),
        'backoff capped',
      );
      assert.equal(d.snapshots.length, 0, 'no snapshot before everything was listed');
    } finally {
      await d.watch.close();
    }
  });

  it('turns a bad PEM in the bundle ConfigMap into a problem naming the ConfigMap and key', async () => {
    const o = observe(adapter);
    try {
      await o.snapshot('initial', (inv) => inv.bundle !== null);
      const cm = store.get('configmaps', 'spire', 'spire-bundle');
      assert.ok(cm);
      store.update('configmaps', {
        ...cm,
        data: { 'bundle.crt': '-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n' },
      });
      const inv = await o.snapshot('bad bundle', (s) => (s.bundle?.problems.length ?? 0) > 0);
      assert.equal(inv.bundle?.certificates.length, 0);
      assert.match(inv.bundle.problems[0] ?? '', /ConfigMap spire\/spire-bundle key bundle\.crt: certificate #1 is not valid X\.509/);
      store.update('configmaps', { ...cm, data: { 'bundle.crt': 'garbage' } });
      const none = await o.snapshot('no PEM', (s) => /no PEM CERTIFICATE block/.test(s.bundle?.problems[0] ?? ''));
      assert.equal(none.bundle?.key, 'bundle.crt');
      store.update('configmaps', cm);
    } finally {
      await o.watch.close();
    }
    assert.deepEqual(parseTrustBundle({ namespace: 'spire', name: 'b', resourceVersion: '1', data: {} }, 'bundle.crt').problems, [
      'ConfigMap spire/b has no key bundle.crt',
    ]);
  });

  it('restartRollout sends the kubectl rollout restart patch; deletePod deletes; failures carry a KubeFailure', async () => {
    const before = store.get('deployments', 'shop', 'web');
    await adapter.restartRollout('Deployment', 'shop', 'web', new Date(Date.UTC(2025, 0, 2, 3, 4, 5, 678)));
    const after = store.get('deployments', 'shop', 'web');
    const annotations = (after?.spec as { template: { metadata: { annotations?: Record<string, string> } } }).template.metadata.annotations;
    assert.equal(annotations?.['kubectl.kubernetes.io/restartedAt'], '2025-01-02T03:04:05Z');
    assert.equal(after?.metadata.generation, (before?.metadata.generation ?? 0) + 1);
    const patch = server.faults
      .requests()
      .filter((r) => r.method === 'PATCH')
      .at(-1);
    assert.match(patch?.url ?? '', /^\/apis\/apps\/v1\/namespaces\/shop\/deployments\/web/);

    await adapter.restartRollout('StatefulSet', 'shop', 'db', new Date());
    assert.equal(store.get('statefulsets', 'shop', 'db')?.metadata.generation, 2);

    await adapter.deletePod('shop', 'db-0');
    assert.equal(store.get('pods', 'shop', 'db-0'), undefined);
    await adapter.deletePod('shop', 'db-0');

    await assert.rejects(adapter.restartRollout('Deployment', 'shop', 'nope', new Date()), (e: unknown) => {
      assert.ok(e instanceof KubernetesError);
      assert.equal(e.failure.code, 'not_found');
      assert.match(e.message, /deployments shop\/nope/);
      assert.match(e.message, /not found/);
      return true;
    });
  });
});
