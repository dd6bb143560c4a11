import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startKubeControllers } from '../../src/sim/k8s/k8s-controller.js';
import { seedKubernetes, type KubeSeedSpec } from '../../src/sim/k8s/k8s-seed.js';
import { KubeStore } from '../../src/sim/k8s/k8s-store.js';
import { applyPatch } from '../../src/sim/k8s/k8s-patch.js';

const SPEC: KubeSeedSpec = {
  nodes: ['node-a'],
  spireNamespace: 'spire',
  bundlePem: '',
  agents: [],
  workloads: [
    {
      id: 'shop/web-1',
      namespace: 'shop',
      podName: 'web-1',
      node: 'node-a',
      serviceAccount: 'web',
      owner: { kind: 'Deployment', name: 'web' },
      spiffeId: 'spiffe://e/web',
    },
    {
      id: 'shop/db-0',
      namespace: 'shop',
      podName: 'db-0',
      node: 'node-a',
      serviceAccount: 'db',
      owner: { kind: 'StatefulSet', name: 'db' },
      spiffeId: 'spiffe://e/db',
    },
  ],
};

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('startKubeControllers', () => {
  it('recreates a deleted ReplicaSet pod under a new name and uid, a StatefulSet pod under its old name', async () => {
    const store = new KubeStore();
    seedKubernetes(store, SPEC);
    const stop = startKubeControllers(store);
    const old = store.get('pods', 'shop', 'web-1');
    store.delete('pods', 'shop', 'web-1');
    await tick();
    const web = store.list('pods', 'shop').filter((p) => p.metadata.labels?.app === 'web');
    assert.equal(web.length, 1);
    assert.notEqual(web[0]?.metadata.name, 'web-1');
    assert.match(web[0]?.metadata.name ?? '', /^web-[a-z]+-[0-9a-f]{5}$/);
    assert.notEqual(web[0]?.metadata.uid, old?.metadata.uid);
    assert.equal(web[0]?.metadata.annotations?.['spire-healer.io/spiffe-id'], 'spiffe://e/web');

    const db = store.get('pods', 'shop', 'db-0');
    store.delete('pods', 'shop', 'db-0');
    await tick();
    assert.notEqual(store.get('pods', 'shop', 'db-0')?.metadata.uid, db?.metadata.uid);
    stop();
    store.delete('pods', 'shop', 'db-0');
    await tick();
    assert.equal(store.get('pods', 'shop', 'db-0'), undefined, 'stopped controllers do nothing');
  });

  it('replaces the pods of a restarted Deployment and records observedGeneration', async () => {
    const store = new KubeStore();
    seedKubernetes(store, SPEC);
    const stop = startKubeControllers(store, { keepPodNames: true });
    const oldUid = store.get('pods', 'shop', 'web-1')?.metadata.uid;
    const d = store.get('deployments', 'shop', 'web');
    assert.ok(d);
    const restart = { spec: { template: { metadata: { annotations: { 'kubectl.kubernetes.io/restartedAt': '2025-01-01T00:00:00Z' } } } } };
    store.update('deployments', applyPatch('application/strategic-merge-patch+json', d, restart) as unknown as typeof d);
    await tick();
    await tick();
    const pod = store.get('pods', 'shop', 'web-1');
    assert.ok(pod, 'kept its name');
    assert.notEqual(pod.metadata.uid, oldUid);
    assert.equal(pod.metadata.annotations?.['kubectl.kubernetes.io/restartedAt'], '2025-01-01T00:00:00Z');
    const after = store.get('deployments', 'shop', 'web');
    assert.equal(after?.metadata.generation, 2);
    assert.equal((after.status as { observedGeneration: number }).observedGeneration, 2);
    stop();
  });
});
