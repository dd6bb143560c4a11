import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { FakeSpireAgent } from '../../src/sim/spire/fake-spire-agent.js';
import { SimWorld } from '../../src/sim/world.js';

const T0 = Date.UTC(2025, 0, 1, 12, 0, 0);
const TTL = 10_000;

describe('simulated eviction (DeleteAgent) and re-attestation', () => {
  let now = T0;
  let world: SimWorld;
  let agent: FakeSpireAgent;

  beforeEach(async () => {
    now = T0;
    world = await SimWorld.create({ trustDomain: 'example.org', svidTtlMs: TTL, envoyRestartMs: 500, now: () => now });
    await world.addWorkload({
      id: 'shop/web-0',
      spiffeId: 'spiffe://example.org/ns/shop/sa/web',
      platform: 'kubernetes',
      location: 'shop',
      node: 'node-a',
    });
    await world.addWorkload({
      id: 'shop/db-0',
      spiffeId: 'spiffe://example.org/ns/shop/sa/db',
      platform: 'kubernetes',
      location: 'shop',
      node: 'node-a',
    });
    await world.addWorkload({
      id: 'shop/web-1',
      spiffeId: 'spiffe://example.org/ns/shop/sa/web',
      platform: 'kubernetes',
      location: 'shop',
      node: 'node-b',
    });
    agent = new FakeSpireAgent({ world, node: 'node-a', pollMs: 0, health: false, agentSvidTtlMs: 60_000 });
    await agent.start();
  });
  afterEach(async () => {
    await agent.dispose();
  });

  const serial = (id: string): string => world.agentSvid(id).serialHex;
  const advance = async (ms: number): Promise<void> => {
    now += ms;
    await world.tick();
  };

  it('heals svid_rotation_stopped: the agent re-attests, gets a new SVID and mints every SVID of its node anew', async () => {
    const fault = world.injectFault({ kind: 'svid_rotation_stopped', target: 'shop/web-0' });
    const stuck = serial('shop/web-0');
    await advance(TTL * 0.6);
    assert.equal(serial('shop/web-0'), stuck, 'the fault stops the rotation');
    const agentSerial = agent.agentSvid?.serialHex;
    const db = serial('shop/db-0');
    const other = serial('shop/web-1');

    assert.equal(world.evictAgent('node-a'), true);
    assert.deepEqual(
      { ...world.agentAttestation('node-a'), evictedAt: null },
      { attested: false, banned: false, canReattest: true, attestationType: 'k8s_psat', generation: 1, evictedAt: null },
    );
    assert.equal(world.evictAgent('node-a'), false, 'a second DeleteAgent finds no record (NotFound)');
    const syncedAt = world.agent('node-a').lastSyncSuccessMs;
    await advance(TTL * 0.6);
    assert.equal(serial('shop/db-0'), db, 'an evicted agent rotates nothing');
    assert.equal(world.agent('node-a').lastSyncSuccessMs, syncedAt, 'and its syncs are refused');
    assert.notEqual(serial('shop/web-1'), other, 'the other node is unaffected');

    await agent.notify();
    const att = world.agentAttestation('node-a');
    assert.equal(att.attested, true);
    assert.equal(att.generation, 2);
    assert.notEqual(agent.agentSvid?.serialHex, agentSerial, 'a new agent SVID');
    assert.equal(agent.agentRecord().serialHex, agent.agentSvid?.serialHex);
    assert.notEqual(serial('shop/web-0'), stuck, 'the stuck SVID is minted anew');
    assert.notEqual(serial('shop/db-0'), db);
    assert.equal(world.agentSvid('shop/web-0').notBeforeMs, Math.floor(now / 1_000) * 1_000);
    assert.notEqual(world.faults().find((f) => f.id === fault.id)?.healedAt, null, 'the fault is healed');
    assert.equal(world.agent('node-a').lastSyncSuccessMs, now);
    assert.equal(world.actionsOnHealthyTargets, 0, 'the eviction acted on a faulty node');

    const fresh = serial('shop/web-0');
    await advance(TTL * 0.6);
    assert.notEqual(serial('shop/web-0'), fresh, 'rotation resumes');
  });

  it('an agent whose attestor cannot re-attest (join_token) stays evicted and broken', async () => {
    world.setAgentAttestor('node-a', 'join_token', false);
    assert.equal(agent.agentRecord().canReattest, false);
    assert.equal(agent.agentRecord().attestationType, 'join_token');
    const agentSerial = agent.agentSvid?.serialHex;
    const web = serial('shop/web-0');
    assert.equal(world.evictAgent('node-a'), true);
    const evictedAt = now;
    await agent.notify(true);
    await advance(TTL * 0.6);
    await agent.notify(true);
    assert.equal(world.agentAttestation('node-a').attested, false);
    assert.equal(world.agentAttestation('node-a').generation, 1);
    assert.equal(agent.agentSvid?.serialHex, agentSerial);
    assert.equal(serial('shop/web-0'), web, 'no rotation');
    assert.equal(world.agent('node-a').lastSyncSuccessMs, evictedAt);
    assert.equal(world.actionsOnHealthyTargets, 1, 'evicting a healthy agent counts');
  });

  it('a banned agent cannot attest until a DeleteAgent lifts the ban', async () => {
    assert.equal(world.banAgent('node-a'), true);
    await agent.notify(true);
    assert.deepEqual([world.agentAttestation('node-a').attested, world.agentAttestation('node-a').banned], [false, true]);
    assert.equal(agent.agentRecord().banned, true);
    assert.equal(await world.reattestAgent('node-a'), false);
    assert.equal(world.evictAgent('node-a'), true, 'DeleteAgent removes a banned record');
    await agent.notify(true);
    assert.deepEqual([world.agentAttestation('node-a').attested, world.agentAttestation('node-a').banned], [true, false]);
  });

  it('agent_server_lost: an evicted agent cannot reach the server to re-attest; it does once the connection is back', async () => {
    const lost = world.injectFault({ kind: 'agent_server_lost', target: 'node-a' });
    assert.equal(world.evictAgent('node-a'), true);
    await agent.notify(true);
    assert.equal(world.agentAttestation('node-a').attested, false, 'no re-attestation without the server');
    assert.equal(world.faults().find((f) => f.id === lost.id)?.healedAt, null, 'eviction does not heal a lost server');
    world.restartAgent('node-a');
    await agent.notify(true);
    assert.equal(world.agentAttestation('node-a').attested, true);
    assert.equal(world.agentAttestation('node-a').generation, 2);
  });

  it('LocalAuthority in the world: prepare, activate, taint (re-mints what the old CA signed), revoke', async () => {
    const oldCa = world.ca;
    const seq = world.trustBundle().sequenceNumber;
    const ca = await world.prepareAuthority();
    assert.equal(world.authorityState().prepared, ca);
    assert.equal(world.trustBundle().sequenceNumber, seq + 1);
    assert.deepEqual(
      world.trustBundle().certs.map((c) => c.serialHex),
      [oldCa.cert.serialHex, ca.cert.serialHex],
    );
    assert.deepEqual(
      world.configMapBundle().map((c) => c.serialHex),
      [oldCa.cert.serialHex, ca.cert.serialHex],
    );
    await advance(TTL * 2);
    assert.equal(world.ca, oldCa, 'a prepared authority is not activated by itself');
    world.activateAuthority();
    assert.equal(world.ca, ca);
    assert.equal(world.authorityState().old, oldCa);
    assert.throws(() => world.revokeAuthority(), /tainted/);
    const web = world.agentSvid('shop/web-0');
    assert.equal(web.x509.verify(oldCa.cert.x509.publicKey), true);
    assert.equal(await world.taintAuthority(), 3, 'every SVID the old CA signed is re-minted');
    assert.equal(world.isAuthorityTainted(oldCa.cert), true);
    assert.equal(world.agentSvid('shop/web-0').x509.verify(ca.cert.x509.publicKey), true);
    world.revokeAuthority();
    assert.deepEqual(
      world.trustBundle().certs.map((c) => c.serialHex),
      [ca.cert.serialHex],
    );
  });
});
