import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { GrpcSpireServer } from '../../src/adapters/spire/spire-server.client.js';
import { HttpSpireHealth, SpireHealthError } from '../../src/adapters/spire/spire-health.client.js';
import type { SpireAgentRecord, SpireFailure } from '../../src/ports/spire.port.js';
import { FakeSpireAgent } from '../../src/sim/spire/fake-spire-agent.js';
import { FakeSpireServer, subjectKeyIdHex } from '../../src/sim/spire/fake-spire-server.js';
import { SimWorld } from '../../src/sim/world.js';

const T0 = Date.UTC(2025, 0, 1, 12, 0, 0);
const TTL = 10_000;

/** Seven agents: ids agent-0..6, every third banned, odd ones cannot re-attest, agent-6 attested by join_token. */
function sevenAgents(): SpireAgentRecord[] {
  return Array.from({ length: 7 }, (_, i) => ({
    spiffeId: `spiffe://example.org/spire/agent/k8s_psat/c/agent-${i}`,
    attestationType: i === 6 ? 'join_token' : 'k8s_psat',
    serialHex: `a${i}`, // as the model spells serials (normalised: no leading zero)
    svidExpiresAtMs: T0 + 3_600_000,
    selectors: [{ type: 'k8s_psat', value: `agent_node_name:n${i}` }],
    banned: i % 3 === 0,
    canReattest: i % 2 === 0,
    agentVersion: '1.11.0',
  }));
}

describe('SPIRE server client against the fake server', () => {
  let now = T0;
  let world: SimWorld;
  let agents: SpireAgentRecord[] = sevenAgents();
  let listCalls = 0;
  let fake: FakeSpireServer;
  let client: GrpcSpireServer;

  before(async () => {
    world = await SimWorld.create({ trustDomain: 'example.org', svidTtlMs: TTL, envoyRestartMs: 500, now: () => now });
    await world.addWorkload({
      id: 'shop/web-0',
      spiffeId: 'spiffe://example.org/ns/shop/sa/web',
      platform: 'kubernetes',
      location: 'shop',
    });
    fake = new FakeSpireServer({
      world,
      agents: () => {
        listCalls += 1;
        return agents;
      },
    });
    await fake.start();
    client = new GrpcSpireServer({ endpoint: fake.endpoint, pageSize: 3, timeoutMs: 2_000 });
  });
  after(async () => {
    client.close();
    await fake.dispose();
  });

  it('ListAgents follows next_page_token: 7 agents, page size 3 → 3 pages, each agent once', async () => {
    listCalls = 0;
    const all = await client.listAgents();
    assert.equal(listCalls, 3, 'three ListAgents calls');
    assert.deepEqual(all.map((a) => a.spiffeId).sort(), agents.map((a) => a.spiffeId).sort());
    assert.equal(new Set(all.map((a) => a.spiffeId)).size, 7);
    const a1 = all.find((a) => a.spiffeId.endsWith('/agent-1'));
    assert.deepEqual(a1, agents[1]);
  });

  it('ListAgents filters by banned, can_reattest and attestation type', async () => {
    const ids = (xs: SpireAgentRecord[]): string[] => xs.map((a) => a.spiffeId.slice(-7)).sort();
    assert.deepEqual(ids(await client.listAgents({ banned: true })), ['agent-0', 'agent-3', 'agent-6']);
    assert.deepEqual(ids(await client.listAgents({ canReattest: false })), ['agent-1', 'agent-3', 'agent-5']);
    assert.deepEqual(ids(await client.listAgents({ attestationType: 'join_token' })), ['agent-6']);
    assert.deepEqual(ids(await client.listAgents({ banned: false, canReattest: true })), ['agent-2', 'agent-4']);
  });

  it('GetAgent returns one agent; an unknown one is NOT_FOUND naming endpoint and RPC', async () => {
    const a = await client.getAgent('spiffe://example.org/spire/agent/k8s_psat/c/agent-4');
    assert.deepEqual(a, agents[4]);
    await assert.rejects(client.getAgent('spiffe://example.org/spire/agent/k8s_psat/c/nope'), (e: SpireFailure) => {
      assert.equal(e.code, 'NOT_FOUND');
      assert.equal(e.endpoint, fake.endpoint);
      assert.equal(e.rpc, 'Agent/GetAgent');
      assert.ok(e.message.startsWith(`${fake.endpoint} Agent/GetAgent: NOT_FOUND`), e.message);
      return true;
    });
  });

  it('lists fake agents by their records (agent SVID serial and expiry)', async () => {
    const node = new FakeSpireAgent({ world, pollMs: 0, health: false });
    await node.start();
    const saved = agents;
    agents = [node.agentRecord()];
    try {
      const [rec] = await client.listAgents();
      assert.equal(rec?.spiffeId, 'spiffe://example.org/spire/agent/sim/node-0');
      assert.equal(rec.serialHex, node.agentSvid?.serialHex);
      assert.equal(rec.svidExpiresAtMs, node.agentSvid?.notAfterMs);
    } finally {
      agents = saved;
      await node.dispose();
    }
  });

  it('GetBundle and GetX509AuthorityState follow a CA rotation: prepared → active with old', async () => {
    const caA = world.ca;
    const b1 = await client.getBundle();
    assert.equal(b1.trustDomain, 'example.org');
    assert.equal(b1.sequenceNumber, '1');
    assert.deepEqual(
      b1.x509Authorities.map((a) => a.certificate.serialHex),
      [caA.cert.serialHex],
    );
    assert.equal(b1.x509Authorities[0]?.tainted, false);
    const s1 = await client.getX509AuthorityState();
    assert.deepEqual(s1.active, {
      authorityId: subjectKeyIdHex(caA.cert.der),
      expiresAtMs: caA.cert.notAfterMs,
      upstreamAuthoritySubjectKeyId: '',
    });
    assert.equal(s1.prepared, null);
    assert.equal(s1.old, null);

    world.startCaRotation();
    const caB = world.authorityState().prepared;
    assert.ok(caB);
    const b2 = await client.getBundle();
    assert.equal(b2.sequenceNumber, '2');
    assert.deepEqual(
      b2.x509Authorities.map((a) => a.certificate.serialHex),
      [caA.cert.serialHex, caB.cert.serialHex],
    );
    const s2 = await client.getX509AuthorityState();
    assert.equal(s2.active?.authorityId, subjectKeyIdHex(caA.cert.der));
    assert.equal(s2.prepared?.authorityId, subjectKeyIdHex(caB.cert.der));
    assert.notEqual(s2.prepared.authorityId, s2.active.authorityId);
    assert.equal(s2.old, null);

    now += TTL / 2;
    await world.tick();
    const s3 = await client.getX509AuthorityState();
    assert.equal(s3.active?.authorityId, subjectKeyIdHex(caB.cert.der));
    assert.equal(s3.old?.authorityId, subjectKeyIdHex(caA.cert.der));
    assert.equal(s3.prepared, null);
    assert.equal((await client.getBundle()).x509Authorities.length, 2);
  });

  it('serves the same APIs on tcp://127.0.0.1:port', async () => {
    const tcp = new FakeSpireServer({ world, agents: () => agents, tcp: true });
    await tcp.start();
    const c = new GrpcSpireServer({ endpoint: tcp.endpoint });
    try {
      assert.match(tcp.endpoint, /^tcp:\/\/127\.0\.0\.1:\d+$/);
      assert.equal((await c.getBundle()).trustDomain, 'example.org');
      assert.equal((await c.listAgents()).length, 7);
    } finally {
      c.close();
      await tcp.dispose();
    }
  });
});

describe('SPIRE health client against the fakes', () => {
  const health = new HttpSpireHealth(2_000);
  let world: SimWorld;

  before(async () => {
    world = await SimWorld.create({ trustDomain: 'example.org', svidTtlMs: TTL, envoyRestartMs: 500, now: () => T0 });
    await world.addWorkload({
      id: 'shop/web-0',
      spiffeId: 'spiffe://example.org/ns/shop/sa/web',
      platform: 'kubernetes',
      location: 'shop',
    });
  });

  it('server /live and /ready: 200 with empty subsystems, 500 naming the failing one', async () => {
    const server = new FakeSpireServer({ world, agents: () => [] });
    await server.start();
    try {
      for (const probe of ['live', 'ready'] as const) {
        const ok = await health.check(server.healthUrl, probe);
        assert.deepEqual(ok, {
          healthy: true,
          status: 200,
          subsystems: { server: {}, 'server.ca': {}, 'server.ca.rotator': {}, 'catalog.datastore': {} },
        });
      }
      server.health['server.ca'] = { sign_x509_svid_err: 'unable to sign' };
      const bad = await health.check(`${server.healthUrl}/`, 'ready');
      assert.equal(bad.healthy, false);
      assert.equal(bad.status, 500);
      assert.deepEqual(bad.subsystems['server.ca'], { sign_x509_svid_err: 'unable to sign' });
      assert.deepEqual(bad.subsystems.server, {});
    } finally {
      await server.dispose();
    }
  });

  it('agent /ready stays green under agent_server_lost (spire#1562), 500 when its subsystem reports an error', async () => {
    const agent = new FakeSpireAgent({ world, pollMs: 0 });
    await agent.start();
    try {
      const url = agent.healthUrl;
      assert.ok(url !== undefined);
      world.injectFault({ kind: 'agent_server_lost', target: 'node-0' });
      assert.deepEqual(await health.check(url, 'ready'), { healthy: true, status: 200, subsystems: { agent: {} } });
      agent.health.agent = { make_new_x509_err: 'rpc error: code = Unavailable' };
      const bad = await health.check(url, 'live');
      assert.equal(bad.status, 500);
      assert.deepEqual(bad.subsystems.agent, { make_new_x509_err: 'rpc error: code = Unavailable' });
    } finally {
      await agent.dispose();
    }
  });

  it('unreachable or not SPIRE → SpireHealthError naming the URL', async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((r) =>
      closed.close(() => {
        r();
      }),
    );
    const url = `http://127.0.0.1:${port}`;
    await assert.rejects(
      health.check(url, 'ready'),
      (e: Error) => e instanceof SpireHealthError && e.message.startsWith(`${url}/ready: unreachable`),
    );

    const html = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' }).end('<html>hi</html>');
    });
    await new Promise<void>((r) => html.listen(0, '127.0.0.1', r));
    const htmlUrl = `http://127.0.0.1:${(html.address() as AddressInfo).port}`;
    try {
      await assert.rejects(
        health.check(htmlUrl, 'live'),
        (e: Error) => e instanceof SpireHealthError && e.message.includes(`${htmlUrl}/live`) && /not JSON/.test(e.message),
      );
    } finally {
      html.closeAllConnections();
      await new Promise<void>((r) =>
        html.close(() => {
          r();
        }),
      );
    }
  });
});
