/**
 * The SPIRE monitor sources over the real protocols: pollSpire (server bundle + authorities, agent
 * Debug) and the Delegated Identity streams, against the world-driven fakes, into a real Redis.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { GrpcAgentAdmin } from '../../src/adapters/spire/agent-admin.client.js';
import { HttpSpireHealth } from '../../src/adapters/spire/spire-health.client.js';
import { GrpcSpireServer } from '../../src/adapters/spire/spire-server.client.js';
import { RedisAuditLog } from '../../src/adapters/redis/redis-audit-log.js';
import { RedisKnowledgeStore } from '../../src/adapters/redis/redis-knowledge-store.js';
import { DelegatedSvidStreams, type DelegatedSvidTarget } from '../../src/monitor/delegated-svid-streams.js';
import { agentSubject, trustDomainSubject } from '../../src/knowledge/subject-ref.js';
import { pollSpire } from '../../src/monitor/poll-spire.js';
import { FakeSpireAgent } from '../../src/sim/spire/fake-spire-agent.js';
import { FakeSpireServer } from '../../src/sim/spire/fake-spire-server.js';
import { workloadSelectors } from '../../src/sim/spire/selectors.js';
import { SimWorld } from '../../src/sim/world.js';
import { uniquePrefix, withRedis } from '../support/redis.js';

const T0 = Date.UTC(2025, 0, 1, 12, 0, 0);
const TTL = 10_000;
const FAST = { initialBackoffMs: 20, maxBackoffMs: 100 };

async function until<T>(what: string, f: () => Promise<T | null | undefined>, timeoutMs = 5_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await f();
    if (v !== null && v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('SPIRE monitor sources against the fake agents and server (real gRPC, real Redis)', () => {
  const redis = withRedis();
  let now = T0;
  const clock = { now: () => now };
  let world: SimWorld;
  const agents = new Map<string, FakeSpireAgent>();
  let server: FakeSpireServer;
  const admin = new GrpcAgentAdmin({ backoff: FAST, timeoutMs: 1_000, now: clock.now });
  let serverClient: GrpcSpireServer;
  const advance = async (ms: number): Promise<void> => {
    now += ms;
    await world.tick();
    for (const a of agents.values()) await a.notify();
  };
  const agent = (node: string): FakeSpireAgent => {
    const a = agents.get(node);
    assert.ok(a);
    return a;
  };

  before(async () => {
    world = await SimWorld.create({ trustDomain: 'example.org', svidTtlMs: TTL, envoyRestartMs: 500, now: clock.now });
    await world.addWorkload({
      id: 'shop/web-0',
      spiffeId: 'spiffe://example.org/ns/shop/sa/web',
      platform: 'kubernetes',
      location: 'shop',
      node: 'node-0',
    });
    await world.addWorkload({
      id: 'shop/web-1',
      spiffeId: 'spiffe://example.org/ns/shop/sa/web',
      platform: 'kubernetes',
      location: 'shop',
      node: 'node-1',
    });
    for (const node of world.nodes()) {
      const a = new FakeSpireAgent({ world, node, pollMs: 0 });
      await a.start();
      agents.set(node, a);
    }
    server = new FakeSpireServer({ world, agents: () => [...agents.values()].map((a) => a.agentRecord()), tcp: true });
    await server.start();
    serverClient = new GrpcSpireServer({ endpoint: server.endpoint, timeoutMs: 1_000 });
  });
  after(async () => {
    serverClient.close();
    for (const a of agents.values()) await a.dispose();
    await server.dispose();
  });

  function sink(prefix: string) {
    const conn = redis.connect();
    return { store: new RedisKnowledgeStore(conn, prefix), audit: new RedisAuditLog(conn, prefix) };
  }
  const targets = (): { node: string; adminEndpoint: string; healthUrl?: string }[] =>
    world.nodes().map((node) => {
      const url = agent(node).healthUrl;
      return { node, adminEndpoint: agent(node).adminEndpoint, ...(url === undefined ? {} : { healthUrl: url }) };
    });

  it('pollSpire records the bundle and authorities, then each agent; a stale sync and a dead agent are visible', async () => {
    const s = sink(uniquePrefix('spire'));
    const deps = {
      ...s,
      server: { port: serverClient, endpoint: server.endpoint },
      debug: admin,
      bundles: admin,
      health: new HttpSpireHealth(),
      clock,
      trustDomain: 'example.org',
      concurrency: 4,
    };
    agent('node-0').health.agent = { error: 'cannot reach server' };
    const first = await pollSpire(deps, targets());
    assert.deepEqual([first.probed, first.failed], [3, 0]);
    const notReady = await s.store.latestObservation(agentSubject('node-0'), 'spire.agent.health');
    assert.ok(notReady?.data.kind === 'spire.health');
    assert.deepEqual([notReady.data.healthy, notReady.data.status, notReady.data.failing], [false, 500, ['agent']]);
    agent('node-0').health.agent = {};
    const bundle = await s.store.latestObservation(trustDomainSubject('example.org'), 'spire.server.bundle');
    assert.ok(bundle?.data.kind === 'spire.bundle');
    assert.deepEqual(
      bundle.data.authorities.map((a) => a.serialNumber),
      [world.ca.cert.serialHex],
    );
    assert.equal(bundle.data.prepared, null);
    const listed = await s.store.latestObservation(agentSubject('node-1'), 'spire.server.agent');
    assert.ok(listed?.data.kind === 'spire.server.agent');
    assert.deepEqual([listed.data.agentId, listed.data.banned, listed.data.canReattest], [agent('node-1').agentId, false, true]);

    world.startCaRotation();
    world.injectFault({ kind: 'agent_server_lost', target: 'node-0' });
    await advance(20_000);
    await pollSpire(deps, targets());
    const rotated = await s.store.latestObservation(trustDomainSubject('example.org'), 'spire.server.bundle');
    assert.ok(rotated?.data.kind === 'spire.bundle');
    assert.equal(rotated.data.sequenceNumber, '2');
    assert.equal(rotated.data.authorities.length, 2);
    const agentBundle = await s.store.latestObservation(agentSubject('node-1'), 'spire.agent.bundle');
    assert.ok(agentBundle?.data.kind === 'spire.agent.bundle');
    assert.equal(agentBundle.data.certificates.length, 2, 'the agent distributes both CAs after the rotation');
    const stale = await s.store.latestObservation(agentSubject('node-0'), 'spire.agent.debug');
    const fresh = await s.store.latestObservation(agentSubject('node-1'), 'spire.agent.debug');
    assert.ok(stale?.data.kind === 'spire.agent' && fresh?.data.kind === 'spire.agent');
    assert.equal(stale.data.lastSyncSuccessMs, T0, 'node-0 stopped syncing at the start');
    assert.equal(fresh.data.lastSyncSuccessMs, now);

    world.injectFault({ kind: 'agent_down', target: 'node-1' });
    const before = targets(); // addresses as discovery knew them while the agent ran
    await agent('node-1').stop();
    const down = await pollSpire(deps, before);
    assert.equal(down.failed, 3, 'Debug, the bundle stream and /ready all fail on the dead agent');
    const err = await s.store.latestObservation(agentSubject('node-1'), 'spire.agent.debug');
    assert.ok(err?.data.kind === 'probe.error');
    assert.match(err.data.error, /Debug\/GetInfo: UNAVAILABLE/);
    assert.equal(err.data.endpoint, agent('node-1').adminEndpoint);
    const audited = await s.audit.list();
    assert.ok(
      audited.some((e) => e.type === 'observation.failed' && e.subject === 'agent:node-1'),
      'the failure is audited',
    );
    await agent('node-1').start();
    world.restartAgent('node-1');
    world.restartAgent('node-0');
  });

  it("Delegated Identity streams record each workload's SVID, follow rotations, report a dead agent and recover", async () => {
    const s = sink(uniquePrefix('svid'));
    const streams = new DelegatedSvidStreams({
      ...s,
      port: admin,
      clock,
      retryMs: 20,
      maxBackoffMs: 100,
      onRecordError: (err) => {
        throw err;
      },
    });
    const ts: DelegatedSvidTarget[] = world.workloads().map((w) => ({
      workloadId: w.id,
      spiffeId: w.spiffeId,
      node: w.node,
      adminEndpoint: agent(w.node).adminEndpoint,
      selectors: workloadSelectors(w),
    }));
    streams.sync(ts);
    try {
      const serialIn = async (id: string): Promise<string | null> => {
        const o = await s.store.latestObservation(id, 'spire.delegated.svid');
        return o?.data.kind === 'spire.svid' ? (o.data.svid?.serialNumber ?? null) : null;
      };
      await until('web-0 SVID', async () => ((await serialIn('shop/web-0')) === world.agentSvid('shop/web-0').serialHex ? true : null));
      const before = world.agentSvid('shop/web-1').serialHex;
      await advance(TTL / 2);
      assert.notEqual(world.agentSvid('shop/web-1').serialHex, before);
      await until('web-1 rotation', async () => ((await serialIn('shop/web-1')) === world.agentSvid('shop/web-1').serialHex ? true : null));

      await agent('node-1').stop();
      const failed = await until('a probe error', async () => {
        const o = await s.store.latestObservation('shop/web-1', 'spire.delegated.svid');
        return o?.data.kind === 'probe.error' ? o.data : null;
      });
      assert.match(failed.error, /DelegatedIdentity\/SubscribeToX509SVIDs/);
      await agent('node-1').start();
      await until('recovery', async () => ((await serialIn('shop/web-1')) === world.agentSvid('shop/web-1').serialHex ? true : null));
      assert.match(JSON.stringify(streams.states()['shop/web-1']), /streaming/);

      // Silence is not re-stamped: before the rotation point refresh() neither writes nor re-subscribes.
      const quiet = await s.store.latestObservation('shop/web-0', 'spire.delegated.svid');
      now += 1_000;
      assert.equal(await streams.refresh(), 0);
      assert.equal((await s.store.latestObservation('shop/web-0', 'spire.delegated.svid'))?.observedAt, quiet?.observedAt);

      // Past the rotation point of an SVID the agent did not rotate, the silent stream is re-subscribed: its first
      // message, stamped when received, says when that subscription was opened (after the rotation point).
      const stopped = world.injectFault({ kind: 'svid_rotation_stopped', target: 'shop/web-0' });
      const held = world.agentSvid('shop/web-0');
      await advance(TTL / 2 + 500);
      assert.equal(world.agentSvid('shop/web-0').serialHex, held.serialHex);
      const asked = now;
      assert.ok((await streams.refresh()) >= 1, 'the silent stream is re-subscribed');
      const confirmed = await until('a confirmation', async () => {
        const o = await s.store.latestObservation('shop/web-0', 'spire.delegated.svid');
        return o?.data.kind === 'spire.svid' && (o.data.subscribedAtMs ?? 0) >= asked ? o : null;
      });
      assert.equal(confirmed.data.kind === 'spire.svid' ? confirmed.data.svid?.serialNumber : null, held.serialHex);
      assert.equal(confirmed.observedAt, now, 'stamped when received');
      world.clearFault(stopped.id);
    } finally {
      streams.stop();
    }
    streams.sync(ts);
    assert.deepEqual(streams.states(), {}, 'a sync after stop opens nothing');
  });
});
