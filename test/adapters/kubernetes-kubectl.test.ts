/**
 * The real kubectl as referee of the fake API server: if kubectl can read it and restart a
 * rollout through it, the fake speaks the protocol clients rely on.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { existsSync } from 'node:fs';
import { FakeKubeApiServer } from '../../src/sim/k8s/k8s-api-server.js';
import { seedKubernetes } from '../../src/sim/k8s/k8s-seed.js';
import { KubeStore } from '../../src/sim/k8s/k8s-store.js';

const KUBECTL = (process.env.PATH ?? '')
  .split(delimiter)
  .map((d) => join(d, 'kubectl'))
  .find((p) => existsSync(p));
const BUNDLE = '-----BEGIN CERTIFICATE-----\nQUJD\n-----END CERTIFICATE-----\n';

describe('kubectl against the fake API server', { skip: KUBECTL === undefined ? 'kubectl is not on PATH' : false }, () => {
  let store: KubeStore;
  let server: FakeKubeApiServer;
  let home: string;

  /** Runs kubectl isolated from any real cluster (KUBECONFIG=/dev/null, temp HOME and cache). */
  const kubectl = (...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> =>
    new Promise((resolve) => {
      execFile(
        KUBECTL ?? 'kubectl',
        ['--server', server.url, '--request-timeout=10s', '--cache-dir', join(home, 'cache'), ...args],
        { env: { PATH: process.env.PATH ?? '', HOME: home, KUBECONFIG: '/dev/null' }, timeout: 30_000, maxBuffer: 64 * 1024 * 1024 },
        (err, stdout, stderr) => {
          resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1, stdout, stderr });
        },
      );
    });

  before(async () => {
    home = mkdtempSync(join(tmpdir(), 'kubectl-home-'));
    store = new KubeStore();
    seedKubernetes(store, {
      nodes: ['node-a'],
      spireNamespace: 'spire',
      bundlePem: BUNDLE,
      agents: [{ node: 'node-a', podName: 'spire-agent-a' }],
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
          id: 'shop/web-2',
          namespace: 'shop',
          podName: 'web-2',
          node: 'node-a',
          serviceAccount: 'web',
          owner: { kind: 'Deployment', name: 'web' },
          spiffeId: 'spiffe://example.org/web',
        },
      ],
    });
    server = new FakeKubeApiServer(store);
    await server.start();
  });
  after(async () => {
    await server.close();
    rmSync(home, { recursive: true, force: true });
  });

  it('get pods -A -o json returns every pod', async () => {
    const r = await kubectl('get', 'pods', '-A', '-o', 'json');
    assert.equal(r.code, 0, r.stderr);
    const list = JSON.parse(r.stdout) as { items: { metadata: { namespace: string; name: string } }[] };
    assert.deepEqual(
      list.items.map((p) => `${p.metadata.namespace}/${p.metadata.name}`),
      ['shop/web-1', 'shop/web-2', 'spire/spire-agent-a'],
    );
  });

  it('prints the default table and a selector-filtered list', async () => {
    const r = await kubectl('get', 'pods', '-n', 'shop', '--field-selector', 'metadata.name=web-2');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE\n/);
    assert.match(r.stdout, /web-2\s+2\/2\s+Running\s+0/);
    assert.doesNotMatch(r.stdout, /web-1/);
  });

  it('reads the bundle ConfigMap with jsonpath', async () => {
    const r = await kubectl('get', 'configmap', '-n', 'spire', 'spire-bundle', '-o', 'jsonpath={.data.bundle\\.crt}');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, BUNDLE);
  });

  it('rollout restart lands the restartedAt annotation and bumps generation', async () => {
    const before = store.get('deployments', 'shop', 'web')?.metadata.generation ?? 0;
    const r = await kubectl('rollout', 'restart', 'deployment/web', '-n', 'shop');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /deployment.apps\/web restarted/);
    const d = store.get('deployments', 'shop', 'web');
    const at = (d?.spec as { template: { metadata: { annotations?: Record<string, string> } } }).template.metadata.annotations?.[
      'kubectl.kubernetes.io/restartedAt'
    ];
    assert.match(at ?? '', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d/);
    assert.equal(d?.metadata.generation, before + 1);
  });

  it('annotate and label go through as merge patches', async () => {
    assert.equal((await kubectl('annotate', 'pod', '-n', 'shop', 'web-1', 'team=blue')).code, 0);
    assert.equal((await kubectl('label', 'pod', '-n', 'shop', 'web-1', 'tier=front')).code, 0);
    const pod = store.get('pods', 'shop', 'web-1');
    assert.equal(pod?.metadata.annotations?.team, 'blue');
    assert.equal(pod.metadata.labels?.tier, 'front');
    assert.equal(pod.metadata.annotations['spire-healer.io/spiffe-id'], 'spiffe://example.org/web', 'other annotations kept');
  });

  it('shows the server NotFound Status for a missing pod', async () => {
    const r = await kubectl('get', 'pod', '-n', 'shop', 'nope');
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /Error from server \(NotFound\): pods "nope" not found/);
  });

  it('deletes a pod', async () => {
    const r = await kubectl('delete', 'pod', '-n', 'shop', 'web-2', '--wait=false');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(store.get('pods', 'shop', 'web-2'), undefined);
  });
});
