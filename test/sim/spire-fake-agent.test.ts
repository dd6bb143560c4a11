import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { GrpcAgentAdmin } from '../../src/adapters/spire/agent-admin.client.js';
import { GrpcWorkloadApi } from '../../src/adapters/spire/workload-api.client.js';
import type { DelegatedX509SvidsUpdate } from '../../src/ports/spire.port.js';
import { FakeSpireAgent, workloadSelectors } from '../../src/sim/spire/fake-spire-agent.js';
import { entryMatches, selectorKeys } from '../../src/sim/spire/selectors.js';
import { WatchRecorder } from '../support/watch-recorder.js';
import { SimWorld, type SimWorkload } from '../../src/sim/world.js';

const T0 = Date.UTC(2025, 0, 1, 12, 0, 0);
const TTL = 10_000;

describe('workloadSelectors', () => {
  it('gives ns, sa (from /ns/<ns>/sa/<sa>, else the pod name without its ordinal) and pod-name', () => {
    assert.deepEqual(workloadSelectors({ id: 'shop/web-0', location: 'shop', spiffeId: 'spiffe://example.org/ns/shop/sa/web' }), [
      { type: 'k8s', value: 'ns:shop' },
      { type: 'k8s', value: 'sa:web' },
      { type: 'k8s', value: 'pod-name:web-0' },
    ]);
    assert.deepEqual(
      workloadSelectors({ id: 'pay/api-12', location: 'pay', spiffeId: 'spiffe://example.org/payments/api' }).map((s) => s.value),
      ['ns:pay', 'sa:api', 'pod-name:api-12'],
    );
  });

  it('matches SPIRE-style: an entry matches when its selectors are a subset of the request', () => {
    const entry = selectorKeys(workloadSelectors({ id: 'shop/web-0', location: 'shop', spiffeId: 'spiffe://example.org/ns/shop/sa/web' }));
    const sibling = selectorKeys(
      workloadSelectors({ id: 'shop/web-1', location: 'shop', spiffeId: 'spiffe://example.org/ns/shop/sa/web' }),
    );
    assert.equal(entryMatches(entry, entry), true);
    assert.equal(entryMatches(entry, new Set([...entry, 'k8s:node-name:n1'])), true);
    assert.equal(entryMatches(entry, sibling), false, 'another pod of the same deployment does not match');
    assert.equal(entryMatches(new Set(), entry), false, 'an entry without selectors matches nothing');
  });
});

describe('FakeSpireAgent reads the world', () => {
  let now = T0;
  let world: SimWorld;
  let a: FakeSpireAgent;
  let b: FakeSpireAgent;
  let webA: SimWorkload;
  let dbA: SimWorkload;
  let webB: SimWorkload;
  const admin = new GrpcAgentAdmin({ backoff: { initialBackoffMs: 20, maxBackoffMs: 100 } });

  before(async () => {
    world = await SimWorld.create({ trustDomain: 'example.org', svidTtlMs: TTL, envoyRestartMs: 500, now: () => now });
    webA = await world.addWorkload({
      id: 'shop/web-0',
      spiffeId: 'spiffe://example.org/ns/shop/sa/web',
      platform: 'kubernetes',
      location: 'shop',
      node: 'node-a',
    });
    dbA = await world.addWorkload({
      id: 'shop/db-0',
      spiffeId: 'spiffe://example.org/ns/shop/sa/db',
      platform: 'kubernetes',
      location: 'shop',
      node: 'node-a',
    });
    webB = await world.addWorkload({
      id: 'shop/web-1',
      spiffeId: 'spiffe://example.org/ns/shop/sa/web',
      platform: 'kubernetes',
      location: 'shop',
      node: 'node-b',
    });
    a = new FakeSpireAgent({ world, pollMs: 0, health: false });
    b = new FakeSpireAgent({ world, node: 'node-b', pollMs: 20, health: false });
    await Promise.all([a.start(), b.start()]);
  });
  after(async () => {
    await Promise.all([a.dispose(), b.dispose()]);
  });

  it("defaults to the world's first node and serves only its node's workloads", async () => {
    assert.equal(a.node, 'node-a');
    const api = new GrpcWorkloadApi();
    assert.deepEqual(
      (await api.fetchX509Svids(a.publicEndpoint)).svids.map((s) => s.chain[0]?.serialHex).sort(),
      [world.agentSvid(webA.id).serialHex, world.agentSvid(dbA.id).serialHex].sort(),
    );
    assert.deepEqual(
      (await api.fetchX509Svids(b.publicEndpoint)).svids.map((s) => s.chain[0]?.serialHex),
      [world.agentSvid(webB.id).serialHex],
    );

    const rec = new WatchRecorder<DelegatedX509SvidsUpdate>();
    const w = admin.watchX509Svids(a.adminEndpoint, workloadSelectors(webB), rec.handlers);
    try {
      assert.deepEqual((await rec.update(1)).svids, [], "node-a's agent has no entry for a pod on node-b");
    } finally {
      w.close();
    }
  });

  it('pushes only what changed: nothing for an unchanged world, one message per affected stream on a rotation', async () => {
    const recWeb = new WatchRecorder<DelegatedX509SvidsUpdate>();
    const recDb = new WatchRecorder<DelegatedX509SvidsUpdate>();
    const wWeb = admin.watchX509Svids(a.adminEndpoint, workloadSelectors(webA), recWeb.handlers);
    const wDb = admin.watchX509Svids(a.adminEndpoint, workloadSelectors(dbA), recDb.handlers);
    try {
      await Promise.all([recWeb.update(1), recDb.update(1)]);
      const sent = a.messagesSent;
      await a.notify();
      await world.tick();
      await a.notify();
      assert.equal(a.messagesSent, sent, 'no message while nothing changed');

      world.injectFault({ kind: 'svid_rotation_stopped', target: webA.id });
      now += TTL / 2;
      await world.tick();
      await a.notify();
      assert.equal(a.messagesSent, sent + 1, 'only the db stream gets a message');
      const dbUpdate = await recDb.update(2);
      assert.equal(dbUpdate.svids[0]?.chain[0]?.serialHex, world.agentSvid(dbA.id).serialHex);
      assert.equal(recWeb.updates.length, 1);
    } finally {
      wWeb.close();
      wDb.close();
    }
  });

  it('an agent with pollMs pushes a rotation by itself (no notify)', async () => {
    await b.notify(); // settle what earlier tests changed, so the first message is current
    const rec = new WatchRecorder<DelegatedX509SvidsUpdate>();
    const w = admin.watchX509Svids(b.adminEndpoint, workloadSelectors(webB), rec.handlers);
    try {
      const before = (await rec.update(1)).svids[0]?.chain[0]?.serialHex;
      assert.equal(before, world.agentSvid(webB.id).serialHex);
      now += TTL / 2;
      await world.tick();
      const rotated = world.agentSvid(webB.id).serialHex;
      assert.notEqual(rotated, before);
      await rec.updateWhere((u) => u.svids[0]?.chain[0]?.serialHex === rotated, 'polled rotation');
    } finally {
      w.close();
    }
  });

  it('stop() removes the sockets and start() recreates them on the same paths', async () => {
    const pub = a.publicEndpoint.slice('unix://'.length);
    const adm = a.adminEndpoint.slice('unix://'.length);
    assert.ok(existsSync(pub) && existsSync(adm));
    await a.stop();
    assert.equal(a.running, false);
    assert.ok(!existsSync(pub) && !existsSync(adm), 'agent down: sockets gone');
    await a.start();
    assert.ok(existsSync(pub) && existsSync(adm));
    assert.equal((await new GrpcWorkloadApi().fetchX509Svids(a.publicEndpoint)).svids.length, 2);
  });
});
