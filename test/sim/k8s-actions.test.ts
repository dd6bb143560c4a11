/**
 * What the fake API server offers remediation: core/v1 Events (validated like the API server,
 * listed by the real kubectl), the pod log subresource, request interceptors that play a
 * concurrent writer, and controllers that run a hook before recreating a deleted pod.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { FakeKubeApiServer } from '../../src/sim/k8s/k8s-api-server.js';
import { startKubeControllers } from '../../src/sim/k8s/k8s-controller.js';
import { seedKubernetes, type KubeSeedSpec } from '../../src/sim/k8s/k8s-seed.js';
import { KubeStore } from '../../src/sim/k8s/k8s-store.js';
import { renderAgentLog } from '../../src/sim/k8s/spire-agent-log.js';

const KUBECTL = (process.env.PATH ?? '')
  .split(delimiter)
  .map((d) => join(d, 'kubectl'))
  .find((p) => existsSync(p));

const SPEC: KubeSeedSpec = {
  nodes: ['node-a'],
  spireNamespace: 'spire',
  bundlePem: '',
  agents: [{ node: 'node-a', podName: 'spire-agent-a', annotations: { 'spire-healer.io/agent-health-url': 'http://127.0.0.1:1111' } }],
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
  ],
};

const event = (name: string, namespace: string, objectNamespace = namespace): object => ({
  apiVersion: 'v1',
  kind: 'Event',
  metadata: { name, namespace },
  involvedObject: { apiVersion: 'v1', kind: 'Pod', namespace: objectNamespace, name: 'web-1' },
  reason: 'SpireHealerRestart',
  message: 'spire-healer deleted pod web-1 for incident rotation_failed--shop_web-1--abc (job x)',
  type: 'Normal',
  source: { component: 'spire-healer' },
  firstTimestamp: new Date().toISOString(),
  lastTimestamp: new Date().toISOString(),
  count: 1,
});

async function send(url: string, method: string, body?: object): Promise<{ status: number; text: string; type: string }> {
  const res = await fetch(url, {
    method,
    ...(body === undefined ? {} : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
  });
  return { status: res.status, text: await res.text(), type: res.headers.get('content-type') ?? '' };
}

describe('the fake API server for remediation', () => {
  let store: KubeStore;
  let server: FakeKubeApiServer;
  let home: string;
  before(async () => {
    home = mkdtempSync(join(tmpdir(), 'kubectl-home-'));
    store = new KubeStore();
    seedKubernetes(store, SPEC);
    server = new FakeKubeApiServer(store, {
      podLogs: (pod, container) =>
        `${pod.metadata.name} ${container} 1\n${pod.metadata.name} ${container} 2\n${pod.metadata.name} ${container} 3\n`,
    });
    await server.start();
  });
  after(async () => {
    await server.close();
    rmSync(home, { recursive: true, force: true });
  });

  it('creates Events and refuses one whose involved object is in another namespace (422)', async () => {
    const ok = await send(`${server.url}/api/v1/namespaces/shop/events`, 'POST', event('web-1.aaaa', 'shop'));
    assert.equal(ok.status, 201, ok.text);
    const dup = await send(`${server.url}/api/v1/namespaces/shop/events`, 'POST', event('web-1.aaaa', 'shop'));
    assert.equal(dup.status, 409);
    const bad = await send(`${server.url}/api/v1/namespaces/shop/events`, 'POST', event('web-1.bbbb', 'shop', 'spire'));
    assert.equal(bad.status, 422);
    assert.match(bad.text, /involvedObject.namespace: Invalid value: \\"spire\\": does not match event.namespace/);
    const selected = await send(
      `${server.url}/api/v1/namespaces/shop/events?fieldSelector=${encodeURIComponent('involvedObject.name=web-1,reason=SpireHealerRestart')}`,
      'GET',
    );
    assert.equal((JSON.parse(selected.text) as { items: unknown[] }).items.length, 1);
  });

  it('serves pod logs as text/plain with tailLines, limitBytes and the container rules', async () => {
    const agent = await send(`${server.url}/api/v1/namespaces/spire/pods/spire-agent-a/log?tailLines=2`, 'GET');
    assert.equal(agent.status, 200);
    assert.match(agent.type, /^text\/plain/);
    assert.equal(agent.text, 'spire-agent-a spire-agent 2\nspire-agent-a spire-agent 3\n');
    assert.equal((await send(`${server.url}/api/v1/namespaces/spire/pods/spire-agent-a/log?limitBytes=5`, 'GET')).text, 'spire');
    assert.equal(
      (await send(`${server.url}/api/v1/namespaces/shop/pods/web-1/log?container=envoy&tailLines=1`, 'GET')).text,
      'web-1 envoy 3\n',
    );
    const ambiguous = await send(`${server.url}/api/v1/namespaces/shop/pods/web-1/log`, 'GET');
    assert.equal(ambiguous.status, 400);
    assert.match(ambiguous.text, /a container name must be specified for pod web-1, choose one of: \[app envoy\]/);
    assert.equal((await send(`${server.url}/api/v1/namespaces/shop/pods/web-1/log?container=envoy&tailLines=x`, 'GET')).status, 400);
    assert.equal((await send(`${server.url}/api/v1/namespaces/shop/pods/nope/log`, 'GET')).status, 404);
    assert.equal((await send(`${server.url}/api/v1/namespaces/shop/pods/web-1/log?container=envoy`, 'POST', {})).status, 405);
  });

  it(
    'kubectl get events lists the recorded Events and kubectl logs reads a pod log',
    { skip: KUBECTL === undefined ? 'kubectl is not on PATH' : false },
    async () => {
      const kubectl = (...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> =>
        new Promise((resolve) => {
          execFile(
            KUBECTL ?? 'kubectl',
            ['--server', server.url, '--request-timeout=10s', '--cache-dir', join(home, 'cache'), ...args],
            { env: { PATH: process.env.PATH ?? '', HOME: home, KUBECONFIG: '/dev/null' }, timeout: 30_000 },
            (err, stdout, stderr) => {
              resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1, stdout, stderr });
            },
          );
        });
      const events = await kubectl('get', 'events', '-n', 'shop');
      assert.equal(events.code, 0, events.stderr);
      assert.match(events.stdout, /LAST SEEN\s+TYPE\s+REASON\s+OBJECT\s+MESSAGE/);
      assert.match(
        events.stdout,
        /Normal\s+SpireHealerRestart\s+pod\/web-1\s+spire-healer deleted pod web-1 for incident rotation_failed--shop_web-1--abc/,
      );
      const logs = await kubectl('logs', '-n', 'spire', 'spire-agent-a', '--tail=1');
      assert.equal(logs.code, 0, logs.stderr);
      assert.equal(logs.stdout, 'spire-agent-a spire-agent 3\n');
    },
  );

  it('runs interceptors before the matching requests only, the given number of times', async () => {
    let calls = 0;
    server.faults.interceptRequests(
      { path: '/api/v1/namespaces/shop/pods/web-1', method: 'GET' },
      () => {
        calls += 1;
      },
      2,
    );
    for (let i = 0; i < 3; i++) await send(`${server.url}/api/v1/namespaces/shop/pods/web-1`, 'GET');
    await send(`${server.url}/api/v1/namespaces/shop/pods`, 'GET');
    assert.equal(calls, 2);
  });
});

describe('controllers with a hook before recreating', () => {
  it('wait for the hook and put its annotations on the new pod; a failing hook still recreates', async () => {
    const store = new KubeStore();
    seedKubernetes(store, SPEC);
    const seen: string[] = [];
    let fail = false;
    const stop = startKubeControllers(store, {
      keepPodNames: true,
      beforeRecreate: async (pod) => {
        seen.push(pod.metadata.name);
        await new Promise((r) => setTimeout(r, 20));
        if (fail) throw new Error('boom');
        return { 'spire-healer.io/agent-health-url': 'http://127.0.0.1:2222' };
      },
    });
    const old = store.get('pods', 'spire', 'spire-agent-a');
    store.delete('pods', 'spire', 'spire-agent-a');
    await new Promise((r) => setImmediate(r));
    assert.equal(store.get('pods', 'spire', 'spire-agent-a'), undefined, 'not recreated before the hook finished');
    await new Promise((r) => setTimeout(r, 60));
    const fresh = store.get('pods', 'spire', 'spire-agent-a');
    assert.ok(fresh);
    assert.notEqual(fresh.metadata.uid, old?.metadata.uid);
    assert.equal(fresh.metadata.annotations?.['spire-healer.io/agent-health-url'], 'http://127.0.0.1:2222');
    fail = true;
    store.delete('pods', 'shop', 'web-1');
    await new Promise((r) => setTimeout(r, 60));
    assert.ok(store.get('pods', 'shop', 'web-1'));
    assert.deepEqual(seen, ['spire-agent-a', 'web-1']);
    stop();
  });
});

describe('SPIRE agent log rendering', () => {
  it('starts with the startup sequence and logs a failing sync every 5 s while the server is lost', () => {
    const t0 = Date.UTC(2025, 0, 1, 0, 0, 0);
    const text = renderAgentLog({
      node: 'node-1',
      trustDomain: 'example.org',
      startedAtMs: t0,
      nowMs: t0 + 30_000,
      spiffeIds: ['spiffe://example.org/ns/shop/sa/web'],
      faults: [{ kind: 'agent_server_lost', injectedAt: t0 + 10_000, healedAt: null }],
    });
    const lines = text.trimEnd().split('\n');
    assert.match(
      lines[1] ?? '',
      /^time="2025-01-01T00:00:00Z" level=info msg="Starting agent" data_dir=\/run\/spire\/data version=1.11.1$/,
    );
    assert.ok(lines.some((l) => /msg="Creating X509-SVID" spiffe_id=spiffe:\/\/example.org\/ns\/shop\/sa\/web/.test(l)));
    const failures = lines.filter((l) => l.includes('msg="Synchronize failed"'));
    assert.equal(failures.length, 5);
    assert.match(
      failures[0] ?? '',
      /^time="2025-01-01T00:00:10Z" level=error msg="Synchronize failed" error=".*code = Unavailable.*" subsystem_name=manager$/,
    );
  });
});
