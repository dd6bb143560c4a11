import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { FakeKubeApiServer } from '../../src/sim/k8s/k8s-api-server.js';
import { seedKubernetes, type KubeSeedSpec } from '../../src/sim/k8s/k8s-seed.js';
import { KubeStore, type KubeObject } from '../../src/sim/k8s/k8s-store.js';

const SPEC: KubeSeedSpec = {
  nodes: ['node-a', 'node-b'],
  spireNamespace: 'spire',
  bundlePem: '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n',
  agents: [
    { node: 'node-a', podName: 'spire-agent-aaaaa' },
    { node: 'node-b', podName: 'spire-agent-bbbbb' },
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
    },
    {
      id: 'shop/web-2',
      namespace: 'shop',
      podName: 'web-2',
      node: 'node-b',
      serviceAccount: 'web',
      owner: { kind: 'Deployment', name: 'web' },
      spiffeId: 'spiffe://example.org/ns/shop/sa/web',
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
};

interface Reply {
  status: number;
  json: Record<string, unknown> | null;
  text: string;
}

/** One HTTP request to the fake; parses JSON when it can. */
function call(base: string, method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(`${base}${path}`, { method, headers: body === undefined ? {} : { 'content-type': contentType } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json: Record<string, unknown> | null;
        try {
          json = JSON.parse(text) as Record<string, unknown>;
        } catch {
          json = null;
        }
        resolve({ status: res.statusCode ?? 0, json, text });
      });
    });
    req.on('error', reject);
    if (body !== undefined) req.write(typeof body === 'string' ? body : JSON.stringify(body));
    req.end();
  });
}

interface WatchEvent {
  type: string;
  object: Record<string, unknown> & { metadata?: { name?: string; resourceVersion?: string } };
}

/** Opens a watch and collects its events; `next(n)` waits until n events arrived. */
function openWatch(base: string, path: string) {
  const events: WatchEvent[] = [];
  let waiters: (() => void)[] = [];
  let endedResolve: () => void = () => undefined;
  const ended = new Promise<void>((r) => {
    endedResolve = r;
  });
  let buf = '';
  const req = request(`${base}${path}`, (res) => {
    res.setEncoding('utf8');
    res.on('data', (c: string) => {
      buf += c;
      let nl = buf.indexOf('\n');
      while (nl >= 0) {
        events.push(JSON.parse(buf.slice(0, nl)) as WatchEvent);
        buf = buf.slice(nl + 1);
        nl = buf.indexOf('\n');
      }
      for (const w of waiters) w();
    });
    res.on('end', () => {
      endedResolve();
    });
    res.on('close', () => {
      endedResolve();
    });
  });
  req.on('error', () => {
    endedResolve();
  });
  req.end();
  return {
    events,
    ended,
    async next(n: number, timeoutMs = 2000): Promise<WatchEvent[]> {
      const deadline = Date.now() + timeoutMs;
      while (events.length < n) {
        if (Date.now() > deadline)
          throw new Error(`watch ${path}: ${events.length}/${n} events: ${JSON.stringify(events.map((e) => e.type))}`);
        await new Promise<void>((r) => {
          waiters.push(r);
          setTimeout(r, 50);
        });
        waiters = [];
      }
      return events.slice(0, n);
    },
    close(): void {
      req.destroy();
    },
  };
}

const names = (j: Record<string, unknown> | null): string[] =>
  ((j?.items ?? []) as { metadata: { name: string } }[]).map((i) => i.metadata.name);

describe('FakeKubeApiServer', () => {
  let store: KubeStore;
  let server: FakeKubeApiServer;
  let base: string;

  before(async () => {
    store = new KubeStore({ retainedChanges: 50 });
    seedKubernetes(store, SPEC);
    server = new FakeKubeApiServer(store);
    base = (await server.start()).url;
  });
  after(async () => {
    await server.close();
  });

  it('serves discovery documents kubectl needs', async () => {
    const version = await call(base, 'GET', '/version');
    assert.equal(version.json?.major, '1');
    const core = await call(base, 'GET', '/api/v1');
    assert.equal(core.json?.kind, 'APIResourceList');
    const resources = core.json.resources as { name: string; namespaced: boolean }[];
    assert.deepEqual(resources.find((r) => r.name === 'nodes')?.namespaced, false);
    assert.deepEqual(resources.find((r) => r.name === 'pods')?.namespaced, true);
    const apps = await call(base, 'GET', '/apis/apps/v1');
    assert.deepEqual((apps.json?.resources as { name: string }[]).map((r) => r.name).sort(), [
      'daemonsets',
      'deployments',
      'replicasets',
      'statefulsets',
    ]);
    const groups = await call(base, 'GET', '/apis');
    assert.equal(groups.json?.kind, 'APIGroupList');
  });

  it('lists with kind, list resourceVersion and items without kind; all-namespaces and namespaced paths', async () => {
    const all = await call(base, 'GET', '/api/v1/pods');
    assert.equal(all.status, 200);
    assert.equal(all.json?.kind, 'PodList');
    assert.equal(all.json.apiVersion, 'v1');
    assert.equal((all.json.metadata as { resourceVersion: string }).resourceVersion, String(store.resourceVersion));
    assert.equal(names(all.json).length, 5);
    assert.equal((all.json.items as Record<string, unknown>[])[0]?.kind, undefined, 'the API server leaves kind off list items');
    const spire = await call(base, 'GET', '/api/v1/namespaces/spire/pods');
    assert.deepEqual(names(spire.json), ['spire-agent-aaaaa', 'spire-agent-bbbbb']);
    const rs = await call(base, 'GET', '/apis/apps/v1/namespaces/shop/replicasets');
    assert.equal(rs.json?.kind, 'ReplicaSetList');
    assert.equal(names(rs.json).length, 1);
  });

  it('honours label and field selectors, and rejects unsupported ones with a Status', async () => {
    assert.deepEqual(names((await call(base, 'GET', '/api/v1/pods?labelSelector=app%3Dspire-agent')).json), [
      'spire-agent-aaaaa',
      'spire-agent-bbbbb',
    ]);
    assert.deepEqual(names((await call(base, 'GET', '/api/v1/pods?labelSelector=app%20in%20(web,db)')).json), ['db-0', 'web-1', 'web-2']);
    assert.deepEqual(names((await call(base, 'GET', '/api/v1/pods?fieldSelector=spec.nodeName%3Dnode-b,metadata.namespace%3Dshop')).json), [
      'db-0',
      'web-2',
    ]);
    assert.deepEqual(
      names((await call(base, 'GET', '/api/v1/namespaces/spire/configmaps?fieldSelector=metadata.name%3Dspire-bundle')).json),
      ['spire-bundle'],
    );
    const bad = await call(base, 'GET', '/api/v1/pods?fieldSelector=spec.bogus%3Dx');
    assert.equal(bad.status, 400);
    assert.deepEqual(
      { kind: bad.json?.kind, status: bad.json?.status, reason: bad.json?.reason, code: bad.json?.code },
      { kind: 'Status', status: 'Failure', reason: 'BadRequest', code: 400 },
    );
    assert.match(String(bad.json?.message), /field label not supported: spec\.bogus/);
  });

  it('pages with limit/continue without losing or repeating items', async () => {
    const first = await call(base, 'GET', '/api/v1/pods?limit=2');
    const meta = first.json?.metadata as { continue: string; remainingItemCount: number };
    assert.equal(names(first.json).length, 2);
    assert.equal(meta.remainingItemCount, 3);
    const second = await call(base, 'GET', `/api/v1/pods?limit=10&continue=${encodeURIComponent(meta.continue)}`);
    assert.equal((second.json?.metadata as { continue?: string }).continue, undefined);
    const all = [...names(first.json), ...names(second.json)];
    assert.deepEqual(all, names((await call(base, 'GET', '/api/v1/pods')).json));
  });

  it('answers get and errors with real Status objects', async () => {
    const pod = await call(base, 'GET', '/api/v1/namespaces/shop/pods/web-1');
    assert.equal(pod.json?.kind, 'Pod');
    const missing = await call(base, 'GET', '/api/v1/namespaces/shop/pods/nope');
    assert.equal(missing.status, 404);
    assert.deepEqual(missing.json, {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: 'pods "nope" not found',
      reason: 'NotFound',
      details: { name: 'nope', kind: 'pods' },
      code: 404,
    });
    const noRoute = await call(base, 'GET', '/apis/batch/v1/jobs');
    assert.equal(noRoute.status, 404);
    assert.equal(noRoute.json?.kind, 'Status');
  });

  it('patches: strategic merge bumps a Deployment generation, merge patch annotates, JSON patch, 409 on stale RV, 415 on unknown type', async () => {
    const before = store.get('deployments', 'shop', 'web');
    const restart = { spec: { template: { metadata: { annotations: { 'kubectl.kubernetes.io/restartedAt': '2025-01-01T00:00:00Z' } } } } };
    const r = await call(base, 'PATCH', '/apis/apps/v1/namespaces/shop/deployments/web', restart, 'application/strategic-merge-patch+json');
    assert.equal(r.status, 200);
    const after = store.get('deployments', 'shop', 'web');
    assert.equal(after?.metadata.generation, (before?.metadata.generation ?? 0) + 1);
    assert.ok(Number(after.metadata.resourceVersion) > Number(before?.metadata.resourceVersion));
    const containers = (after.spec as { template: { spec: { containers: unknown[] } } }).template.spec.containers;
    assert.equal(containers.length, 2, 'strategic merge kept the containers list');

    const annotate = await call(
      base,
      'PATCH',
      '/api/v1/namespaces/shop/pods/web-1',
      { metadata: { annotations: { team: 'blue' } } },
      'application/merge-patch+json',
    );
    assert.equal((annotate.json?.metadata as { annotations: Record<string, string> }).annotations.team, 'blue');
    assert.equal(
      store.get('pods', 'shop', 'web-1')?.metadata.annotations?.['spire-healer.io/spiffe-id'],
      'spiffe://example.org/ns/shop/sa/web',
    );

    const jp = await call(
      base,
      'PATCH',
      '/api/v1/namespaces/shop/pods/web-1',
      [{ op: 'add', path: '/metadata/labels/tier', value: 'front' }],
      'application/json-patch+json',
    );
    assert.equal(jp.status, 200);
    assert.equal(store.get('pods', 'shop', 'web-1')?.metadata.labels?.tier, 'front');

    const stale = await call(
      base,
      'PATCH',
      '/api/v1/namespaces/spire/configmaps/spire-bundle',
      { metadata: { resourceVersion: '1' }, data: { 'bundle.crt': 'x' } },
      'application/strategic-merge-patch+json',
    );
    assert.equal(stale.status, 409);
    assert.equal(stale.json?.reason, 'Conflict');
    const odd = await call(base, 'PATCH', '/api/v1/namespaces/shop/pods/web-1', {}, 'text/plain');
    assert.equal(odd.status, 415);
  });

  it('deletes a pod (200 with the object) and then 404s it', async () => {
    store.apply('pods', { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'tmp', namespace: 'shop' }, spec: { containers: [] } });
    const del = await call(base, 'DELETE', '/api/v1/namespaces/shop/pods/tmp');
    assert.equal(del.status, 200);
    assert.equal((del.json?.metadata as { name: string }).name, 'tmp');
    assert.equal((await call(base, 'GET', '/api/v1/namespaces/shop/pods/tmp')).status, 404);
  });

  it('watches from a resourceVersion: ADDED, MODIFIED, DELETED in order, selector transitions', async () => {
    const rv = String(store.resourceVersion);
    const w = openWatch(base, `/api/v1/namespaces/shop/pods?watch=true&resourceVersion=${rv}&labelSelector=app%3Dweb`);
    await new Promise((r) => setTimeout(r, 50));
    const pod: KubeObject = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'w-1', namespace: 'shop', labels: { app: 'web' }, uid: '', resourceVersion: '', creationTimestamp: '' },
    };
    store.create('pods', pod);
    const created = store.get('pods', 'shop', 'w-1');
    assert.ok(created);
    store.update('pods', { ...created, status: { phase: 'Running' } });
    store.update('pods', { ...created, metadata: { ...created.metadata, labels: { app: 'other' } } });
    store.create('pods', { ...pod, metadata: { ...pod.metadata, name: 'ignored', labels: { app: 'other' } } });
    store.delete('pods', 'shop', 'ignored');
    const events = await w.next(3);
    assert.deepEqual(
      events.map((e) => [e.type, e.object.metadata?.name]),
      [
        ['ADDED', 'w-1'],
        ['MODIFIED', 'w-1'],
        ['DELETED', 'w-1'],
      ],
    );
    assert.equal(events[0]?.object.kind, 'Pod');
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(w.events.length, 3, 'objects outside the selector are not delivered');
    w.close();
  });

  it('replays missed changes to a watch resuming from an older but retained resourceVersion', async () => {
    const rv = String(store.resourceVersion);
    store.update('pods', { ...(store.get('pods', 'shop', 'web-2') as KubeObject), status: { phase: 'Failed' } });
    const w = openWatch(base, `/api/v1/pods?watch=1&resourceVersion=${rv}`);
    const [e] = await w.next(1);
    assert.equal(e?.type, 'MODIFIED');
    assert.equal(e.object.metadata?.name, 'web-2');
    w.close();
  });

  it('answers a watch from a compacted resourceVersion with an ERROR event carrying 410 Expired, then ends', async () => {
    const old = String(store.resourceVersion);
    store.update('pods', { ...(store.get('pods', 'shop', 'web-2') as KubeObject), status: { phase: 'Running' } });
    store.compact();
    const w = openWatch(base, `/api/v1/pods?watch=true&resourceVersion=${old}`);
    const [e] = await w.next(1);
    await w.ended;
    assert.equal(e?.type, 'ERROR');
    assert.equal(e.object.kind, 'Status');
    assert.equal(e.object.code, 410);
    assert.equal(e.object.reason, 'Expired');
    assert.match(String(e.object.message), /too old resource version/);
  });

  it('starts a watch without resourceVersion with a synthetic ADDED per object', async () => {
    const w = openWatch(base, '/api/v1/namespaces/spire/pods?watch=true');
    const events = await w.next(2);
    assert.deepEqual(
      events.map((e) => e.type),
      ['ADDED', 'ADDED'],
    );
    w.close();
  });

  it('honours timeoutSeconds and allowWatchBookmarks', async () => {
    const started = Date.now();
    const w = openWatch(
      base,
      `/api/v1/nodes?watch=true&resourceVersion=${store.resourceVersion}&timeoutSeconds=1&allowWatchBookmarks=true`,
    );
    await new Promise((r) => setTimeout(r, 100));
    server.sendBookmarks();
    const [bm] = await w.next(1);
    assert.equal(bm?.type, 'BOOKMARK');
    assert.equal(bm.object.metadata?.resourceVersion, String(store.resourceVersion));
    await w.ended;
    const took = Date.now() - started;
    assert.ok(took >= 900 && took < 3000, `closed after ${took} ms`);
  });

  it('fault hooks: 500 N times, garbage body, forced 410 on the next watch, closing open watches', async () => {
    server.faults.failRequests({ path: '/api/v1/pods', watch: false }, { kind: 'status', code: 500 }, 2);
    const a = await call(base, 'GET', '/api/v1/pods');
    const b = await call(base, 'GET', '/api/v1/pods');
    const c = await call(base, 'GET', '/api/v1/pods');
    assert.deepEqual([a.status, b.status, c.status], [500, 500, 200]);
    assert.equal(a.json?.kind, 'Status');
    assert.equal(a.json.reason, 'InternalError');

    server.faults.failRequests({ path: /configmaps/ }, { kind: 'garbage' });
    const g = await call(base, 'GET', '/api/v1/namespaces/spire/configmaps');
    assert.equal(g.status, 200);
    assert.equal(g.json, null, 'garbage is not JSON');

    server.faults.expireNextWatches('pods');
    const expiredWatch = openWatch(base, `/api/v1/pods?watch=true&resourceVersion=${store.resourceVersion}`);
    const [e] = await expiredWatch.next(1);
    assert.equal(e?.object.code, 410);

    const open = openWatch(base, `/api/v1/pods?watch=true&resourceVersion=${store.resourceVersion}`);
    await new Promise((r) => setTimeout(r, 100));
    assert.ok(server.openWatches >= 1);
    assert.ok(server.faults.closeWatches() >= 1);
    await open.ended;
    assert.equal(server.openWatches, 0);
  });
});

describe('seedKubernetes', () => {
  it('builds the Deployment → ReplicaSet → Pod chain, agents and the bundle ConfigMap', () => {
    const store = new KubeStore();
    const result = seedKubernetes(store, SPEC);
    assert.deepEqual(result, { nodes: 2, pods: 5, controllers: 3 });
    const pod = store.get('pods', 'shop', 'web-1');
    const rsRef = pod?.metadata.ownerReferences?.[0];
    assert.equal(rsRef?.kind, 'ReplicaSet');
    const rs = store.get('replicasets', 'shop', rsRef.name);
    assert.equal(rs?.metadata.ownerReferences?.[0]?.kind, 'Deployment');
    assert.equal(rs.metadata.ownerReferences[0].uid, store.get('deployments', 'shop', 'web')?.metadata.uid);
    assert.equal(store.get('pods', 'shop', 'db-0')?.metadata.ownerReferences?.[0]?.kind, 'StatefulSet');
    assert.equal(store.get('configmaps', 'spire', 'spire-bundle')?.data !== undefined, true);
    const envoy = (pod?.spec as { containers: { name: string; ports?: { name: string; containerPort: number }[] }[] }).containers.find(
      (c) => c.name === 'envoy',
    );
    assert.deepEqual(envoy?.ports?.[0], { name: 'envoy-admin', containerPort: 9901, protocol: 'TCP' });
    assert.equal(store.get('pods', 'spire', 'spire-agent-aaaaa')?.metadata.labels?.app, 'spire-agent');
  });

  it('seeds 10,000 pods in well under a few seconds', () => {
    const store = new KubeStore();
    const started = performance.now();
    seedKubernetes(store, {
      ...SPEC,
      workloads: Array.from({ length: 10_000 }, (_, i) => ({
        id: `ns-${i % 20}/w-${i}`,
        namespace: `ns-${i % 20}`,
        podName: `w-${i}`,
        node: `node-${i % 100}`,
        serviceAccount: 'sa',
        owner: { kind: 'Deployment' as const, name: `app-${i % 500}` },
        spiffeId: 'spiffe://example.org/x',
      })),
    });
    const took = performance.now() - started;
    assert.equal(store.count('pods'), 10_002);
    assert.ok(took < 2500, `seeding took ${Math.round(took)} ms`);
  });
});
