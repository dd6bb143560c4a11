/**
 * The remediation side of KubernetesInventory (live reads, the optimistic ConfigMap replace, pod
 * logs, Events) through the real @kubernetes/client-node against the fake API server.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { KubernetesInventory } from '../../src/adapters/kubernetes/kubernetes-inventory.js';
import { KubernetesError } from '../../src/adapters/kubernetes/kube-failure.js';
import { createTrustDomainCa } from '../../src/sim/certs.js';
import { FakeKubeApiServer } from '../../src/sim/k8s/k8s-api-server.js';
import { seedKubernetes } from '../../src/sim/k8s/k8s-seed.js';
import { KubeStore } from '../../src/sim/k8s/k8s-store.js';

const BUNDLE_REF = { namespace: 'spire', name: 'spire-bundle', key: 'bundle.crt' } as const;

function failureCode(e: unknown): string {
  assert.ok(e instanceof KubernetesError, `expected a KubernetesError, got ${String(e)}`);
  return e.failure.code;
}

describe('KubernetesInventory remediation reads and writes against the fake API server', () => {
  let store: KubeStore;
  let server: FakeKubeApiServer;
  let adapter: KubernetesInventory;
  let pems: string[];
  let prints: string[];

  before(async () => {
    const now = Date.now();
    const cas = await Promise.all([createTrustDomainCa('example.org', now), createTrustDomainCa('example.org', now)]);
    pems = cas.map((c) => c.cert.pem);
    prints = cas.map((c) => c.cert.x509.fingerprint256.replaceAll(':', '').toLowerCase());
    store = new KubeStore();
    seedKubernetes(store, {
      nodes: ['node-a', 'node-b'],
      spireNamespace: 'spire',
      bundlePem: pems[0] ?? '',
      agents: [
        { node: 'node-a', podName: 'spire-agent-a', annotations: { 'spire-healer.io/agent-health-url': 'http://127.0.0.1:1' } },
        { node: 'node-b', podName: 'spire-agent-b' },
      ],
      workloads: [
        {
          id: 'shop/web-1',
          namespace: 'shop',
          podName: 'web-1',
          node: 'node-a',
          serviceAccount: 'web',
          owner: { kind: 'Deployment', name: 'web' },
          spiffeId: 'spiffe://example.org/web',
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
      ],
    });
    server = new FakeKubeApiServer(store, {
      podLogs: (pod, container) => Array.from({ length: 5 }, (_, i) => `${pod.metadata.name}/${container} line ${i + 1}\n`).join(''),
    });
    const { url } = await server.start();
    adapter = new KubernetesInventory({ connection: { kind: 'server', server: url }, instance: 'healer-0' });
  });
  after(async () => {
    await server.close();
  });

  it('reads a pod with its top owner through the ReplicaSet, and null for a missing one', async () => {
    const pod = await adapter.getPod('shop', 'web-1');
    assert.ok(pod);
    assert.deepEqual(pod.owner, { kind: 'Deployment', name: 'web' });
    assert.equal(pod.uid, store.get('pods', 'shop', 'web-1')?.metadata.uid);
    assert.deepEqual(pod.containers, ['app', 'envoy']);
    assert.equal(pod.ready, true);
    assert.ok(pod.createdAtMs !== null && Math.abs(pod.createdAtMs - Date.now()) < 60_000);
    assert.equal(await adapter.getPod('shop', 'nope'), null);
  });

  it('finds the agent pod of a node by label and node name', async () => {
    const a = await adapter.getAgentPod('node-a');
    assert.equal(a?.name, 'spire-agent-a');
    assert.equal(a.annotations['spire-healer.io/agent-health-url'], 'http://127.0.0.1:1');
    assert.deepEqual(a.owner, { kind: 'DaemonSet', name: 'spire-agent' });
    assert.equal((await adapter.getAgentPod('node-b'))?.name, 'spire-agent-b');
    assert.equal(await adapter.getAgentPod('node-z'), null);
  });

  it('reads a controller with paused, and restartRollout refuses a paused Deployment', async () => {
    const web = await adapter.getController('Deployment', 'shop', 'web');
    assert.equal(web?.paused, false);
    assert.equal((await adapter.getController('StatefulSet', 'shop', 'db'))?.paused, false);
    assert.equal(await adapter.getController('DaemonSet', 'shop', 'nope'), null);
    const d = store.get('deployments', 'shop', 'web');
    assert.ok(d);
    store.update('deployments', { ...d, spec: { ...(d.spec as object), paused: true } });
    try {
      assert.equal((await adapter.getController('Deployment', 'shop', 'web'))?.paused, true);
      await assert.rejects(
        adapter.restartRollout('Deployment', 'shop', 'web', new Date()),
        (e: unknown) => failureCode(e) === 'invalid' && /paused/.test(String(e)),
      );
    } finally {
      const cur = store.get('deployments', 'shop', 'web');
      assert.ok(cur);
      store.update('deployments', { ...cur, spec: { ...(cur.spec as object), paused: false } });
    }
  });

  it('reads the bundle ConfigMap and replaces it only from the current resourceVersion (409 otherwise)', async () => {
    assert.deepEqual(adapter.trustBundleRef(), BUNDLE_REF);
    const first = await adapter.readTrustBundle(BUNDLE_REF);
    assert.ok(first);
    assert.deepEqual(
      first.bundle.certificates.map((c) => c.sha256),
      [prints[0]],
    );
    assert.equal(first.text, pems[0]);
    const next = pems.join('');
    const rv = await adapter.writeTrustBundle(BUNDLE_REF, next, first.bundle.resourceVersion);
    assert.notEqual(rv, first.bundle.resourceVersion);
    const stored = store.get('configmaps', 'spire', 'spire-bundle');
    assert.equal((stored?.data as Record<string, string>)['bundle.crt'], next);
    assert.equal(stored?.metadata.resourceVersion, rv);
    // A write from the old resourceVersion is a conflict and changes nothing.
    await assert.rejects(
      adapter.writeTrustBundle(BUNDLE_REF, pems[0] ?? '', first.bundle.resourceVersion),
      (e: unknown) => failureCode(e) === 'conflict',
    );
    assert.equal((store.get('configmaps', 'spire', 'spire-bundle')?.data as Record<string, string>)['bundle.crt'], next);
    await assert.rejects(adapter.writeTrustBundle(BUNDLE_REF, next, ''), (e: unknown) => failureCode(e) === 'invalid');
    assert.equal(await adapter.readTrustBundle({ namespace: 'spire', name: 'nope', key: 'bundle.crt' }), null);
    await assert.rejects(
      adapter.writeTrustBundle({ namespace: 'spire', name: 'nope', key: 'bundle.crt' }, next, '1'),
      (e: unknown) => failureCode(e) === 'not_found',
    );
  });

  it('reads pod logs with tailLines and a container, and reports the API server errors', async () => {
    assert.equal(
      await adapter.readPodLog('spire', 'spire-agent-a', { tailLines: 2 }),
      'spire-agent-a/spire-agent line 4\nspire-agent-a/spire-agent line 5\n',
    );
    assert.equal(await adapter.readPodLog('shop', 'web-1', { container: 'envoy', tailLines: 1 }), 'web-1/envoy line 5\n');
    await assert.rejects(
      adapter.readPodLog('shop', 'web-1'),
      (e: unknown) =>
        failureCode(e) === 'invalid' && /a container name must be specified for pod web-1, choose one of: \[app envoy\]/.test(String(e)),
    );
    await assert.rejects(adapter.readPodLog('shop', 'web-1', { container: 'nope' }), (e: unknown) => failureCode(e) === 'invalid');
    await assert.rejects(adapter.readPodLog('shop', 'gone'), (e: unknown) => failureCode(e) === 'not_found');
  });

  it('records an Event once per name, as a controller would', async () => {
    const event = {
      name: 'web.0123456789abcdef',
      involvedObject: { apiVersion: 'apps/v1', kind: 'Deployment', namespace: 'shop', name: 'web' },
      type: 'Normal' as const,
      reason: 'SpireHealerRedeploy',
      message: 'spire-healer restarted web for incident i-1 (job j-1)',
      action: 'RolloutRestart',
      atMs: Date.UTC(2025, 0, 2, 3, 4, 5),
    };
    await adapter.recordEvent(event);
    await adapter.recordEvent(event);
    const events = store.list('events', 'shop');
    assert.equal(events.length, 1);
    const e = events[0] as unknown as Record<string, unknown> & { involvedObject: Record<string, string>; source: Record<string, string> };
    assert.equal(e.reason, 'SpireHealerRedeploy');
    assert.equal(e.type, 'Normal');
    assert.equal(e.message, event.message);
    assert.deepEqual(e.involvedObject, { apiVersion: 'apps/v1', kind: 'Deployment', namespace: 'shop', name: 'web' });
    assert.deepEqual(e.source, { component: 'spire-healer' });
    assert.equal(e.reportingInstance, 'healer-0');
    assert.equal(e.firstTimestamp, '2025-01-02T03:04:05.000Z');
    assert.equal(e.count, 1);
  });
});
