import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { subjectKeyIdOf } from '../../src/adapters/spire/der.js';
import { GrpcSpireServer } from '../../src/adapters/spire/spire-server.client.js';
import type { SpireAgentRecord, SpireFailure } from '../../src/ports/spire.port.js';
import { FakeSpireAgent } from '../../src/sim/spire/fake-spire-agent.js';
import { FakeSpireServer, subjectKeyIdHex } from '../../src/sim/spire/fake-spire-server.js';
import { SimWorld } from '../../src/sim/world.js';

const T0 = Date.UTC(2025, 0, 1, 12, 0, 0);
const TTL = 10_000;

const fixture = (i: number): SpireAgentRecord => ({
  spiffeId: `spiffe://example.org/spire/agent/join_token/t${i}`,
  attestationType: 'join_token',
  serialHex: `0${i}`,
  svidExpiresAtMs: T0 + 3_600_000,
  selectors: [],
  banned: false,
  canReattest: false,
  agentVersion: '1.11.0',
});

/** Asserts a rejection's code and that its message names the RPC. */
const rejectsWith = (p: Promise<unknown>, code: string, rpc: string, text?: RegExp): Promise<void> =>
  assert.rejects(p, (e: SpireFailure) => {
    assert.equal(e.code, code, e.message);
    assert.equal(e.rpc, rpc);
    if (text !== undefined) assert.match(e.message, text);
    return true;
  });

describe('SPIRE server client, write side (DeleteAgent, LocalAuthority) against the fake server', () => {
  const now = T0;
  let world: SimWorld;
  let agent: FakeSpireAgent;
  let fake: FakeSpireServer;
  let client: GrpcSpireServer;

  before(async () => {
    world = await SimWorld.create({ trustDomain: 'example.org', svidTtlMs: TTL, envoyRestartMs: 500, now: () => now });
    await world.addWorkload({
      id: 'shop/web-0',
      spiffeId: 'spiffe://example.org/ns/shop/sa/web',
      platform: 'kubernetes',
      location: 'shop',
      node: 'node-0',
    });
    await world.addWorkload({
      id: 'shop/db-0',
      spiffeId: 'spiffe://example.org/ns/shop/sa/db',
      platform: 'kubernetes',
      location: 'shop',
      node: 'node-0',
    });
    agent = new FakeSpireAgent({ world, pollMs: 0, health: false });
    await agent.start();
    fake = new FakeSpireServer({ world, agents: () => [agent.agentRecord(), fixture(1), fixture(2)], tcp: true });
    await fake.start();
    client = new GrpcSpireServer({ endpoint: fake.endpoint, timeoutMs: 2_000 });
  });
  after(async () => {
    client.close();
    await fake.dispose();
    await agent.dispose();
  });

  it('DeleteAgent evicts a world-backed agent; it re-attests with a new SVID and new workload SVIDs', async () => {
    const before = await client.getAgent(agent.agentId);
    const web = world.agentSvid('shop/web-0').serialHex;
    assert.equal(await client.deleteAgent(agent.agentId), 'deleted');
    assert.equal(world.agentAttestation('node-0').attested, false);
    await rejectsWith(client.getAgent(agent.agentId), 'NOT_FOUND', 'Agent/GetAgent');
    assert.deepEqual((await client.listAgents()).map((a) => a.spiffeId).sort(), [fixture(1).spiffeId, fixture(2).spiffeId]);
    assert.equal(await client.deleteAgent(agent.agentId), 'not_found', 'idempotent: NotFound resolves not_found');

    await agent.notify();
    const back = await client.getAgent(agent.agentId);
    assert.notEqual(back.serialHex, before.serialHex);
    assert.equal(back.serialHex, agent.agentSvid?.serialHex);
    assert.equal(back.canReattest, true);
    assert.notEqual(world.agentSvid('shop/web-0').serialHex, web);
  });

  it('DeleteAgent on a record the world does not back removes it from this server only', async () => {
    assert.equal(await client.deleteAgent(fixture(1).spiffeId), 'deleted');
    assert.equal(await client.deleteAgent(fixture(1).spiffeId), 'not_found');
    assert.deepEqual((await client.listAgents()).map((a) => a.spiffeId).sort(), [fixture(2).spiffeId, agent.agentId].sort());
  });

  it('DeleteAgent refuses a malformed ID before calling (naming the RPC); an unknown one is not_found', async () => {
    await rejectsWith(client.deleteAgent('not-a-spiffe-id'), 'INVALID_ARGUMENT', 'Agent/DeleteAgent');
    assert.equal(await client.deleteAgent('spiffe://example.org/spire/agent/none'), 'not_found');
  });

  it('a banned agent is listed banned and stays unattested (the healer never bans; the world can)', async () => {
    world.banAgent('node-0');
    await agent.notify(true);
    const rec = await client.getAgent(agent.agentId);
    assert.equal(rec.banned, true);
    assert.equal(world.agentAttestation('node-0').attested, false);
    assert.equal(await client.deleteAgent(agent.agentId), 'deleted', 'DeleteAgent lifts a ban (SPIRE semantics)');
    await agent.notify(true);
    assert.equal((await client.getAgent(agent.agentId)).banned, false);
  });

  it('LocalAuthority: prepare → activate → taint → revoke, with SPIRE checks at each step', async () => {
    const oldId = subjectKeyIdHex(world.ca.cert.der);
    const b0 = await client.getBundle();
    assert.equal(b0.x509Authorities[0]?.certificate.subjectKeyId, oldId, 'the adapter reads the SKID from the DER');
    await rejectsWith(
      client.activateX509Authority(oldId),
      'INVALID_ARGUMENT',
      'LocalAuthority/ActivateX509Authority',
      /unexpected authority ID/,
    );

    const prepared = await client.prepareX509Authority();
    const s1 = await client.getX509AuthorityState();
    assert.equal(s1.prepared?.authorityId, prepared.authorityId);
    assert.equal(s1.active?.authorityId, oldId);
    const b1 = await client.getBundle();
    assert.equal(Number(b1.sequenceNumber), Number(b0.sequenceNumber) + 1);
    const newCert = b1.x509Authorities.find((a) => a.certificate.subjectKeyId === prepared.authorityId);
    assert.ok(newCert, 'the prepared CA is in the bundle');
    assert.equal(newCert.certificate.notAfterMs, prepared.expiresAtMs);
    await rejectsWith(client.taintX509Authority(prepared.authorityId), 'INVALID_ARGUMENT', 'LocalAuthority/TaintX509Authority', /only Old/);
    await rejectsWith(client.activateX509Authority(''), 'INVALID_ARGUMENT', 'LocalAuthority/ActivateX509Authority', /no authority ID/);

    const activated = await client.activateX509Authority(prepared.authorityId);
    assert.equal(activated.authorityId, prepared.authorityId);
    const s2 = await client.getX509AuthorityState();
    assert.deepEqual([s2.active?.authorityId, s2.prepared, s2.old?.authorityId], [prepared.authorityId, null, oldId]);
    await rejectsWith(client.taintX509Authority(prepared.authorityId), 'INVALID_ARGUMENT', 'LocalAuthority/TaintX509Authority', /current/);
    await rejectsWith(client.revokeX509Authority(oldId), 'INTERNAL', 'LocalAuthority/RevokeX509Authority', /untainted/);

    const web = world.agentSvid('shop/web-0');
    const tainted = await client.taintX509Authority(oldId);
    assert.equal(tainted.authorityId, oldId);
    assert.equal((await client.getBundle()).x509Authorities.find((a) => a.certificate.subjectKeyId === oldId)?.tainted, true);
    assert.notEqual(world.agentSvid('shop/web-0').serialHex, web.serialHex, 'agents rotate SVIDs the tainted CA signed');
    assert.equal(world.agentSvid('shop/web-0').x509.verify(world.ca.cert.x509.publicKey), true);
    await rejectsWith(client.taintX509Authority(oldId), 'INTERNAL', 'LocalAuthority/TaintX509Authority', /already tainted/);

    const revoked = await client.revokeX509Authority(oldId);
    assert.deepEqual(revoked, { authorityId: oldId, expiresAtMs: 0, upstreamAuthoritySubjectKeyId: '' });
    assert.deepEqual(
      (await client.getBundle()).x509Authorities.map((a) => a.certificate.subjectKeyId),
      [prepared.authorityId],
    );
    await rejectsWith(client.revokeX509Authority(oldId), 'INTERNAL', 'LocalAuthority/RevokeX509Authority', /no root CA/);
  });

  it('subjectKeyIdOf reads the SKID extension from DER and gives null without one', () => {
    assert.equal(subjectKeyIdOf(world.ca.cert.der), subjectKeyIdHex(world.ca.cert.der));
    assert.equal(subjectKeyIdOf(world.agentSvid('shop/db-0').der), null, 'the sim SVIDs carry no SKID');
    assert.equal(subjectKeyIdOf(new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x00])), null);
  });
});
