import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { GrpcAgentAdmin } from '../../src/adapters/spire/agent-admin.client.js';
import type { DelegatedX509SvidsUpdate, SpireSelector, X509BundlesUpdate } from '../../src/ports/spire.port.js';
import { FakeSpireAgent, workloadSelectors } from '../../src/sim/spire/fake-spire-agent.js';
import { WatchRecorder } from '../support/watch-recorder.js';
import { SimWorld, type SimWorkload } from '../../src/sim/world.js';

const T0 = Date.UTC(2025, 0, 1, 12, 0, 0);
const TTL = 10_000;
const AGENT_TTL = 8_000;
const FAST = { initialBackoffMs: 20, maxBackoffMs: 100 };

const serialOf = (u: DelegatedX509SvidsUpdate, spiffeId: string): string | undefined =>
  u.svids.find((s) => s.spiffeId === spiffeId)?.chain[0]?.serialHex;

describe('Delegated Identity and Debug clients against the world-driven fake agent', () => {
  let now = T0;
  let world: SimWorld;
  let agent: FakeSpireAgent;
  let web: SimWorkload;
  let db: SimWorkload;
  const admin = new GrpcAgentAdmin({ backoff: FAST, timeoutMs: 2_000, now: () => now });
  /** Moves the manual clock, lets the world act, then lets the agent look (no poll timer: pollMs 0). */
  const advance = async (ms: number): Promise<void> => {
    now += ms;
    await world.tick();
    await agent.notify();
  };

  before(async () => {
    world = await SimWorld.create({ trustDomain: 'example.org', svidTtlMs: TTL, envoyRestartMs: 500, now: () => now });
    web = await world.addWorkload({
      id: 'shop/web-0',
      spiffeId: 'spiffe://example.org/ns/shop/sa/web',
      platform: 'kubernetes',
      location: 'shop',
      node: 'node-a',
    });
    db = await world.addWorkload({
      id: 'shop/db-0',
      spiffeId: 'spiffe://example.org/ns/shop/sa/db',
      platform: 'kubernetes',
      location: 'shop',
      node: 'node-a',
    });
    agent = new FakeSpireAgent({ world, node: 'node-a', pollMs: 0, health: false, agentSvidTtlMs: AGENT_TTL });
    await agent.start();
  });
  after(async () => {
    await agent.dispose();
  });

  it("a pod's selectors get exactly that workload's SVID; a rotation pushes a new full state with the new serial", async () => {
    const rec = new WatchRecorder<DelegatedX509SvidsUpdate>();
    const w = admin.watchX509Svids(agent.adminEndpoint, workloadSelectors(web), rec.handlers);
    try {
      const first = await rec.update(1);
      assert.deepEqual(
        first.svids.map((s) => s.spiffeId),
        [web.spiffeId],
      );
      const svid = first.svids[0];
      assert.ok(svid);
      assert.equal(svid.chain[0]?.serialHex, world.agentSvid(web.id).serialHex);
      assert.equal(svid.expiresAtMs, world.agentSvid(web.id).notAfterMs);
      assert.equal(svid.hasKey, true);

      await advance(TTL / 2);
      const second = await rec.update(2);
      assert.equal(second.svids.length, 1);
      assert.notEqual(serialOf(second, web.spiffeId), svid.chain[0].serialHex);
      assert.equal(serialOf(second, web.spiffeId), world.agentSvid(web.id).serialHex);
      assert.equal(rec.failures.length, 0);
    } finally {
      w.close();
    }
  });

  it('selectors that are not a superset of any entry get an empty full state', async () => {
    const rec = new WatchRecorder<DelegatedX509SvidsUpdate>();
    const partial: SpireSelector[] = workloadSelectors(web).filter((s) => !s.value.startsWith('pod-name:'));
    const w = admin.watchX509Svids(agent.adminEndpoint, partial, rec.handlers);
    try {
      const u = await rec.update(1);
      assert.deepEqual(u.svids, []);
    } finally {
      w.close();
    }
  });

  it('svid_rotation_stopped: no new serial after the half-life, and the SVID is reported until (and after) it expires', async () => {
    const both = [...workloadSelectors(web), ...workloadSelectors(db)];
    const rec = new WatchRecorder<DelegatedX509SvidsUpdate>();
    const w = admin.watchX509Svids(agent.adminEndpoint, both, rec.handlers);
    try {
      const first = await rec.update(1);
      assert.deepEqual(first.svids.map((s) => s.spiffeId).sort(), [db.spiffeId, web.spiffeId]);
      const frozen = serialOf(first, web.spiffeId);
      const dbBefore = serialOf(first, db.spiffeId);
      world.injectFault({ kind: 'svid_rotation_stopped', target: web.id });

      await advance(TTL / 2);
      const second = await rec.updateWhere((u) => serialOf(u, db.spiffeId) !== dbBefore, 'db rotation');
      assert.equal(serialOf(second, web.spiffeId), frozen, 'web keeps its serial while db rotates');

      await advance(TTL / 2);
      const third = await rec.updateWhere(
        (u) => (u.svids.find((s) => s.spiffeId === web.spiffeId)?.expiresAtMs ?? Infinity) <= now,
        'expired web SVID',
      );
      assert.equal(serialOf(third, web.spiffeId), frozen);
      assert.ok(third.svids.length === 2, 'the expired SVID is still listed, not dropped');

      world.restartAgent('node-a');
      await advance(1_000);
      const healed = await rec.updateWhere((u) => serialOf(u, web.spiffeId) !== frozen, 'web rotation after agent restart');
      assert.equal(serialOf(healed, web.spiffeId), world.agentSvid(web.id).serialHex);
    } finally {
      w.close();
    }
  });

  it('SubscribeToX509Bundles is keyed by trust-domain ID and shows both CAs after startCaRotation()', async () => {
    const rec = new WatchRecorder<X509BundlesUpdate>();
    const w = admin.watchX509Bundles(agent.adminEndpoint, rec.handlers);
    try {
      const first = await rec.update(1);
      assert.deepEqual(Object.keys(first.bundles), ['spiffe://example.org']);
      assert.deepEqual(
        first.bundles['spiffe://example.org']?.map((c) => c.serialHex),
        [world.ca.cert.serialHex],
      );
      world.startCaRotation();
      await agent.notify();
      const second = await rec.update(2);
      const serials = second.bundles['spiffe://example.org']?.map((c) => c.serialHex);
      assert.deepEqual(
        serials,
        world.trustBundle().certs.map((c) => c.serialHex),
      );
      assert.equal(serials.length, 2);
      assert.ok(second.bundles['spiffe://example.org']?.every((c) => c.isCa));
    } finally {
      w.close();
    }
  });

  it('agent stop → UNAVAILABLE with a retry delay; the stream resumes after start()', async () => {
    const rec = new WatchRecorder<DelegatedX509SvidsUpdate>();
    const w = admin.watchX509Svids(agent.adminEndpoint, workloadSelectors(db), rec.handlers);
    try {
      await rec.update(1);
      await agent.stop();
      await rec.waitFor(() => rec.failures.some((f) => f.failure.code === 'UNAVAILABLE'), 'UNAVAILABLE');
      for (const { failure, retryInMs } of rec.failures) {
        assert.notEqual(retryInMs, null, `${failure.code} must be retried`);
        assert.equal(failure.rpc, 'DelegatedIdentity/SubscribeToX509SVIDs');
        assert.equal(failure.endpoint, agent.adminEndpoint);
        assert.ok(failure.message.includes(agent.adminEndpoint), failure.message);
      }
      await agent.start();
      const resumed = await rec.update(2);
      assert.deepEqual(
        resumed.svids.map((s) => s.spiffeId),
        [db.spiffeId],
      );
    } finally {
      w.close();
      await agent.start();
    }
  });

  it('Debug.GetInfo: last_sync_success advances with the world and freezes under agent_server_lost; agent SVID expiry reported', async () => {
    await advance(1_000);
    const a = await admin.getInfo(agent.adminEndpoint);
    assert.equal(a.lastSyncSuccessMs, Math.floor(now / 1_000) * 1_000);
    assert.equal(a.svidChain[0]?.spiffeId, 'spiffe://example.org/spire/agent/sim/node-a');
    assert.equal(a.agentSvidExpiresAtMs, agent.agentSvid?.notAfterMs);
    assert.equal(a.cachedX509SvidsCount, 2);

    await advance(AGENT_TTL / 2);
    const renewed = await admin.getInfo(agent.adminEndpoint);
    assert.ok((renewed.agentSvidExpiresAtMs ?? 0) > a.agentSvidExpiresAtMs, 'a syncing agent renews its SVID at half-life');
    assert.equal(renewed.lastSyncSuccessMs, Math.floor(now / 1_000) * 1_000);

    world.injectFault({ kind: 'agent_server_lost', target: 'node-a' });
    const lostAt = renewed.lastSyncSuccessMs;
    await advance(AGENT_TTL);
    const lost = await admin.getInfo(agent.adminEndpoint);
    assert.equal(lost.lastSyncSuccessMs, lostAt, 'last_sync_success frozen');
    assert.equal(lost.agentSvidExpiresAtMs, renewed.agentSvidExpiresAtMs, 'no renewal without the server');
    assert.ok((lost.agentSvidExpiresAtMs ?? Infinity) <= now, 'the agent SVID expired and GetInfo says so');

    world.restartAgent('node-a');
    await advance(1_000);
    const back = await admin.getInfo(agent.adminEndpoint);
    assert.equal(back.lastSyncSuccessMs, Math.floor(now / 1_000) * 1_000);
    assert.ok((back.agentSvidExpiresAtMs ?? 0) > now, 'renewed after the restart');
  });
});
