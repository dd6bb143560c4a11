import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SimWorld } from '../../src/sim/world.js';

const T0 = Date.UTC(2025, 0, 1, 12, 0, 0);
const TTL = 10_000;
const WEB = 'shop/web-0';
const API = 'shop/api-0';

/** Two workloads on two nodes, a manual clock; `advance` moves it and ticks. */
async function twoNodeWorld() {
  let now = T0;
  const world = await SimWorld.create({ trustDomain: 'example.org', svidTtlMs: TTL, envoyRestartMs: 500, now: () => now });
  await world.addWorkload({
    id: WEB,
    spiffeId: 'spiffe://example.org/ns/shop/sa/web',
    platform: 'kubernetes',
    location: 'shop',
    node: 'node-a',
  });
  await world.addWorkload({
    id: API,
    spiffeId: 'spiffe://example.org/ns/shop/sa/api',
    platform: 'kubernetes',
    location: 'shop',
    node: 'node-b',
  });
  const advance = async (ms: number) => {
    now += ms;
    return world.tick();
  };
  return { world, advance };
}

describe('SimWorld faults', () => {
  it('agent_down: no rotation or push on that node, SDS fetches fail; restartAgent heals it', async () => {
    const { world, advance } = await twoNodeWorld();
    const web0 = world.agentSvid(WEB).serialHex;
    const api0 = world.agentSvid(API).serialHex;
    world.injectFault({ kind: 'agent_down', target: 'node-a' });
    await advance(TTL / 2);
    assert.equal(world.agentSvid(WEB).serialHex, web0, 'the down agent rotated nothing');
    assert.notEqual(world.agentSvid(API).serialHex, api0, 'the other node rotated');
    assert.equal(world.agent('node-a').up, false);
    assert.equal(world.envoy(WEB).sds.updateFailure, 1, 'one failed fetch counted');
    await advance(200);
    assert.equal(world.envoy(WEB).sds.updateFailure, 1, 'failures are counted at most once a second');

    world.restartAgent('node-a');
    assert.equal(world.faults()[0]?.healedAt, T0 + TTL / 2 + 200);
    await advance(100);
    assert.notEqual(world.agentSvid(WEB).serialHex, web0, 'rotation resumed');
    assert.equal(world.envoy(WEB).served?.serialHex, world.agentSvid(WEB).serialHex);
    assert.equal(world.actionsOnHealthyTargets, 0);
    world.restartAgent('node-b');
    assert.equal(world.actionsOnHealthyTargets, 1, 'restarting a healthy agent is counted');
  });

  it('agent_server_lost: last sync freezes and SVIDs stop rotating while the agent stays up', async () => {
    const { world, advance } = await twoNodeWorld();
    await advance(1_000);
    world.injectFault({ kind: 'agent_server_lost', target: 'node-a' });
    const web0 = world.agentSvid(WEB).serialHex;
    await advance(TTL);
    assert.equal(world.agent('node-a').lastSyncSuccessMs, T0 + 1_000);
    assert.equal(world.agent('node-b').lastSyncSuccessMs, T0 + 1_000 + TTL);
    assert.equal(world.agent('node-a').up, true);
    assert.equal(world.agentSvid(WEB).serialHex, web0);
  });

  it('svid_rotation_stopped stops one workload only', async () => {
    const { world, advance } = await twoNodeWorld();
    await world.addWorkload({
      id: 'shop/web-1',
      spiffeId: 'spiffe://example.org/ns/shop/sa/web',
      platform: 'kubernetes',
      location: 'shop',
      node: 'node-a',
    });
    const web0 = world.agentSvid(WEB).serialHex;
    const web1 = world.agentSvid('shop/web-1').serialHex;
    world.injectFault({ kind: 'svid_rotation_stopped', target: WEB });
    await advance(TTL / 2);
    assert.equal(world.agentSvid(WEB).serialHex, web0);
    assert.notEqual(world.agentSvid('shop/web-1').serialHex, web1);
  });

  it('envoy_no_certificate: the listener has no chain and resets connections until a restart', async () => {
    const { world, advance } = await twoNodeWorld();
    world.injectFault({ kind: 'envoy_no_certificate', target: WEB });
    assert.equal(world.envoy(WEB).served, null);
    assert.equal(world.envoy(WEB).sds.initFetchTimeout, 1);
    await advance(100);
    await advance(100);
    assert.equal(world.envoy(WEB).ssl.secretsNotReady, 2);
    assert.equal(world.envoy(WEB).ssl.handshake, 0);
    world.quitEnvoy(WEB);
    await advance(500);
    assert.equal(world.envoy(WEB).served?.serialHex, world.agentSvid(WEB).serialHex);
    assert.notEqual(world.faults()[0]?.healedAt, null);
  });

  it("envoy_sds_disconnected: that Envoy's SDS fetches fail while its agent stays up and rotates; restarting it heals it", async () => {
    const { world, advance } = await twoNodeWorld();
    await world.addWorkload({
      id: 'shop/web-1',
      spiffeId: 'spiffe://example.org/ns/shop/sa/web',
      platform: 'kubernetes',
      location: 'shop',
      node: 'node-a',
    });
    const served = world.envoy(WEB).served?.serialHex;
    world.injectFault({ kind: 'envoy_sds_disconnected', target: WEB });
    await advance(TTL / 2);
    assert.equal(world.agent('node-a').up, true);
    assert.notEqual(world.agentSvid(WEB).serialHex, served, 'the agent rotated');
    assert.equal(world.envoy(WEB).served?.serialHex, served, 'the Envoy did not get it');
    assert.equal(world.envoy(WEB).sds.updateFailure, 1);
    await advance(1_000);
    assert.equal(world.envoy(WEB).sds.updateFailure, 2, 'about one failed fetch a second');
    assert.equal(world.envoy('shop/web-1').sds.updateFailure, 0, 'the other Envoy on the node is fine');
    assert.equal(world.envoy('shop/web-1').served?.serialHex, world.agentSvid('shop/web-1').serialHex);

    world.quitEnvoy(WEB);
    await advance(500);
    assert.equal(world.envoy(WEB).state, 'live');
    assert.equal(world.envoy(WEB).served?.serialHex, world.agentSvid(WEB).serialHex, 'the new SDS stream fetched the current SVID');
    assert.notEqual(world.faults()[0]?.healedAt, null);
    await advance(1_000);
    assert.equal(world.envoy(WEB).sds.updateFailure, 0);
    assert.equal(world.actionsOnHealthyTargets, 0);
    world.quitEnvoy('shop/web-1');
    assert.equal(world.actionsOnHealthyTargets, 1, 'restarting a healthy Envoy is counted');
  });

  it('handshake_errors raise ssl.connection_error until cleared; a restart does not heal them', async () => {
    const { world, advance } = await twoNodeWorld();
    const f = world.injectFault({ kind: 'handshake_errors', target: API });
    await advance(100);
    await advance(100);
    assert.equal(world.envoy(API).ssl.connectionError, 2);
    world.quitEnvoy(API);
    await advance(500);
    assert.equal(world.envoy(API).ssl.connectionError, 1, 'still failing after the restart');
    assert.equal(world.clearFault(f.id), true);
    await advance(100);
    assert.equal(world.envoy(API).ssl.connectionError, 1);
  });

  it('ca_rotation_not_propagated to the ConfigMap: bundle grows, ConfigMap does not, new SVIDs use the new CA', async () => {
    const { world, advance } = await twoNodeWorld();
    const oldCa = world.ca.cert.serialHex;
    world.injectFault({ kind: 'ca_rotation_not_propagated', target: 'configmap' });
    assert.equal(world.trustBundle().certs.length, 2);
    assert.equal(world.trustBundle().sequenceNumber, 2);
    assert.equal(world.configMapBundle().length, 1);
    assert.ok(world.authorityState().prepared);
    await advance(100);
    assert.equal(world.envoy(WEB).caCerts.length, 2, 'Envoys got the new bundle over SDS');
    await advance(TTL / 2);
    const state = world.authorityState();
    assert.equal(state.old?.cert.serialHex, oldCa);
    assert.equal(state.prepared, null);
    assert.notEqual(world.ca.cert.serialHex, oldCa);
    assert.equal(world.agentSvid(WEB).x509.issuer, world.ca.cert.x509.subject, 'rotated SVIDs are signed by the new CA');
    assert.equal(world.envoy(WEB).ssl.failVerifyError, 0);
    world.syncConfigMapBundle();
    assert.equal(world.configMapBundle().length, 2);
    assert.notEqual(world.faults()[0]?.healedAt, null);
    assert.throws(() => {
      world.startCaRotation();
      world.injectFault({ kind: 'ca_rotation_not_propagated', target: WEB });
    }, /one CA rotation/);
  });

  it('ca_rotation_not_propagated to one Envoy: it keeps the old bundle and fails verification after activation', async () => {
    const { world, advance } = await twoNodeWorld();
    world.injectFault({ kind: 'ca_rotation_not_propagated', target: WEB });
    assert.equal(world.configMapBundle().length, 2, 'the ConfigMap got it');
    await advance(TTL / 2);
    await advance(100);
    assert.equal(world.envoy(WEB).caCerts.length, 1);
    assert.equal(world.envoy(API).caCerts.length, 2);
    assert.equal(world.envoy(WEB).ssl.failVerifyError, 2);
    assert.equal(world.envoy(API).ssl.failVerifyError, 0);
    world.quitEnvoy(WEB);
    await advance(500);
    assert.equal(world.envoy(WEB).caCerts.length, 2, 'the restart fetched the current bundle');
    assert.equal(world.actionsOnHealthyTargets, 0);
  });

  it('rejects targets that do not fit the fault kind', async () => {
    const { world } = await twoNodeWorld();
    assert.throws(() => world.injectFault({ kind: 'agent_down', target: WEB }), /target "shop\/web-0" is not a node/);
    assert.throws(() => world.injectFault({ kind: 'envoy_sds_stuck', target: 'node-a' }), /not a workload/);
    assert.throws(() => world.injectFault({ kind: 'cloudrun_revision_not_ready', target: WEB }), /not a cloudrun workload/);
    assert.throws(
      () => world.injectFault({ kind: 'ca_rotation_not_propagated', target: 'secret' }),
      /target "secret" is not a workload or configmap/,
      'the bundle secret exists only with Cloud Run workloads',
    );
  });

  it('ca_rotation_not_propagated to the Cloud Run bundle secret: the CA rotates and the ConfigMap follows; the fault waits for a sync, and a new revision of a Cloud Run workload meanwhile is no action on a healthy target', async () => {
    const { world, advance } = await twoNodeWorld();
    await world.addWorkload({
      id: 'acme/europe-west1/pay-0',
      spiffeId: 'spiffe://example.org/run/acme/europe-west1/pay',
      platform: 'cloudrun',
      location: 'acme/europe-west1',
      node: 'node-a',
    });
    const f = world.injectFault({ kind: 'ca_rotation_not_propagated', target: 'secret' });
    assert.equal(world.trustBundle().certs.length, 2);
    assert.equal(world.configMapBundle().length, 2, 'only the secret is left behind');
    world.quitEnvoy('acme/europe-west1/pay-0', { podReplaced: true });
    await advance(TTL);
    assert.equal(world.actionsOnHealthyTargets, 0);
    assert.equal(
      world.faults().find((x) => x.id === f.id)?.healedAt,
      null,
      'the world cannot see the secret: the fleet heals it (simulated-fleet.ts)',
    );
    assert.equal(world.clearFault(f.id), true);
  });
});
