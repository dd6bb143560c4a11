import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { normalizeSerial } from '../../src/knowledge/serial-number.js';
import { SimWorld } from '../../src/sim/world.js';
import { collectStats, renderCerts, renderServerInfo, type EnvoyAdminView } from '../../src/sim/envoy-admin-views.js';

const T0 = Date.UTC(2025, 0, 1, 12, 0, 0);
const TTL = 10_000;
const RESTART = 500;
const WEB = 'shop/web-0';

/** A world on a manual clock with one workload; `advance` moves the clock and ticks. */
async function worldWithOneWorkload() {
  let now = T0;
  const world = await SimWorld.create({ trustDomain: 'example.org', svidTtlMs: TTL, envoyRestartMs: RESTART, now: () => now });
  await world.addWorkload({ id: WEB, spiffeId: 'spiffe://example.org/ns/shop/sa/web', platform: 'kubernetes', location: 'shop' });
  const advance = async (ms: number) => {
    now += ms;
    return world.tick();
  };
  return { world, advance, at: () => now };
}

describe('SimWorld', () => {
  it('rotates the agent SVID at half its TTL and a healthy Envoy serves the new one', async () => {
    const { world, advance } = await worldWithOneWorkload();
    const first = world.agentSvid(WEB).serialHex;
    assert.equal(world.envoy(WEB).served?.serialHex, first);

    const before = await advance(TTL / 2 - 1);
    assert.equal(before.rotated, 0, 'no rotation 1ms before half-life');
    assert.equal(world.agentSvid(WEB).serialHex, first);

    const at = await advance(1);
    assert.equal(at.rotated, 1);
    const second = world.agentSvid(WEB).serialHex;
    assert.notEqual(second, first);
    assert.equal(world.envoy(WEB).served?.serialHex, second, 'SDS push delivered the rotated SVID');
    assert.equal(world.envoy(WEB).sds.updateSuccess, 2);
    assert.equal(world.envoy(WEB).sds.updateTimeMs, T0 + TTL / 2);
  });

  it('an SVID minted ahead of its rotation point is issued at that point, even when the rotating tick comes late', async () => {
    const { world, advance } = await worldWithOneWorkload();
    const first = world.agentSvid(WEB);
    await advance(TTL / 2 - 1_000); // inside the mint-ahead window (a quarter of the TTL before the rotation point)
    await new Promise((r) => setTimeout(r, 200)); // the background mint runs between ticks
    await advance(1_900); // the rotating tick comes 900 ms after the rotation point
    const second = world.agentSvid(WEB);
    assert.notEqual(second.serialHex, first.serialHex);
    assert.equal(second.notBeforeMs, first.notBeforeMs + TTL / 2, 'issued at the rotation point, not when the tick ran');
    assert.equal(world.envoy(WEB).served?.serialHex, second.serialHex);
  });

  it('without a tick inside the mint-ahead window, a late tick mints at once (issued when it ran)', async () => {
    const { world, advance } = await worldWithOneWorkload();
    const first = world.agentSvid(WEB);
    await advance(TTL / 2 + 1_000);
    assert.equal(world.agentSvid(WEB).notBeforeMs, first.notBeforeMs + TTL / 2 + 1_000);
  });

  it('an Envoy with a stuck SDS stream keeps the old serial while the agent rotates', async () => {
    const { world, advance } = await worldWithOneWorkload();
    const first = world.envoy(WEB).served?.serialHex;
    const fault = world.injectFault({ kind: 'envoy_sds_stuck', target: WEB });
    assert.equal(fault.injectedAt, T0);
    assert.equal(fault.healedAt, null);

    await advance(TTL / 2);
    await advance(TTL / 2);
    assert.notEqual(world.agentSvid(WEB).serialHex, first);
    assert.equal(world.envoy(WEB).served?.serialHex, first);
    assert.equal(world.envoy(WEB).sds.updateSuccess, 1, 'no update reached Envoy');
    assert.equal(world.faults()[0]?.healedAt, null);
  });

  it('quitting the stuck Envoy heals it once the restart delay has passed', async () => {
    const { world, advance, at } = await worldWithOneWorkload();
    world.injectFault({ kind: 'envoy_sds_stuck', target: WEB });
    await advance(TTL / 2);
    const current = world.agentSvid(WEB).serialHex;
    assert.notEqual(world.envoy(WEB).served?.serialHex, current);

    world.quitEnvoy(WEB);
    const quitAt = at();
    assert.equal(world.envoy(WEB).state, 'restarting');
    assert.equal(world.envoy(WEB).restartUntil, quitAt + RESTART);

    await advance(RESTART - 1);
    assert.equal(world.envoy(WEB).state, 'restarting', 'still down 1ms before the delay ends');
    assert.equal(world.faults()[0]?.healedAt, null);

    const tick = await advance(1);
    assert.equal(tick.cameBack, 1);
    const envoy = world.envoy(WEB);
    assert.equal(envoy.state, 'live');
    assert.equal(envoy.served?.serialHex, current);
    assert.equal(envoy.restartCount, 1);
    assert.equal(envoy.sdsStuck, false);
    assert.equal(envoy.liveSince, quitAt + RESTART);
    assert.deepEqual(
      world.faults().map((f) => f.healedAt),
      [quitAt + RESTART],
    );
    assert.equal(world.actionsOnHealthyTargets, 0);

    await advance(TTL / 2);
    assert.equal(world.envoy(WEB).served?.serialHex, world.agentSvid(WEB).serialHex, 'the new stream takes later pushes');
  });

  it('quitting a healthy Envoy counts an action on a healthy target', async () => {
    const { world, advance } = await worldWithOneWorkload();
    world.quitEnvoy(WEB);
    assert.equal(world.actionsOnHealthyTargets, 1);
    assert.equal(world.envoy(WEB).restartCount, 1);
    await advance(RESTART);
    assert.equal(world.envoy(WEB).state, 'live');
    assert.deepEqual(world.faults(), []);
  });

  it('a second quit while restarting is counted but does not move the comeback or duplicate healing', async () => {
    const { world, advance } = await worldWithOneWorkload();
    world.injectFault({ kind: 'envoy_sds_stuck', target: WEB });
    world.quitEnvoy(WEB);
    await advance(RESTART / 2);
    world.quitEnvoy(WEB);
    assert.equal(world.envoy(WEB).restartCount, 2);
    assert.equal(world.envoy(WEB).restartUntil, T0 + RESTART);
    assert.equal(world.actionsOnHealthyTargets, 0, 'the fault was still active at the second quit');
    await advance(RESTART / 2);
    assert.equal(world.envoy(WEB).state, 'live');
    assert.equal(world.faults().length, 1);
    assert.equal(world.faults()[0]?.healedAt, T0 + RESTART);
  });

  it('a fault injected during a restart holds the new stream until another quit', async () => {
    const { world, advance } = await worldWithOneWorkload();
    world.quitEnvoy(WEB);
    world.injectFault({ kind: 'envoy_sds_stuck', target: WEB });
    await advance(RESTART);
    assert.equal(world.envoy(WEB).sdsStuck, true);
    assert.equal(world.faults()[0]?.healedAt, null);
  });

  it('mints real X.509 SVIDs with the SPIFFE URI SAN, signed by the trust domain CA', async () => {
    const { world } = await worldWithOneWorkload();
    const svid = world.agentSvid(WEB);
    const leaf = new X509Certificate(svid.der);
    const ca = new X509Certificate(world.ca.cert.pem);
    assert.equal(leaf.subjectAltName, 'URI:spiffe://example.org/ns/shop/sa/web');
    assert.equal(ca.subjectAltName, 'URI:spiffe://example.org');
    assert.equal(ca.ca, true);
    assert.equal(leaf.ca, false);
    assert.ok(leaf.checkIssued(ca));
    assert.ok(leaf.verify(ca.publicKey));
    // The simulator spells serials as the adapters do (normalizeSerial: no leading zeros), so a 16-byte
    // positive serial is at most 32 hex digits and fewer when it starts with zero digits.
    assert.equal(normalizeSerial(leaf.serialNumber), svid.serialHex);
    assert.match(svid.serialHex, /^[1-9a-f][0-9a-f]{0,31}$/);
    assert.ok(svid.serialHex.length < 32 || /^[0-7]/.test(svid.serialHex), 'a 32-digit serial stays positive (top bit clear)');
    assert.equal(Date.parse(leaf.validFrom), T0);
    assert.equal(Date.parse(leaf.validTo), T0 + TTL);
  });

  it('reuses the leaf key across rotations', async () => {
    const { world, advance } = await worldWithOneWorkload();
    const before = world.agentSvid(WEB).x509.publicKey.export({ format: 'der', type: 'spki' });
    await advance(TTL / 2);
    const after = world.agentSvid(WEB).x509.publicKey.export({ format: 'der', type: 'spki' });
    assert.deepEqual(after, before);
  });

  it('rejects unknown workloads and duplicate ids', async () => {
    const { world } = await worldWithOneWorkload();
    assert.throws(() => {
      world.quitEnvoy('shop/nope');
    }, /no simulated workload "shop\/nope"/);
    await assert.rejects(
      world.addWorkload({ id: WEB, spiffeId: 'spiffe://example.org/x', platform: 'kubernetes', location: 'shop' }),
      /already exists/,
    );
  });
});

function viewAt(world: SimWorld, now: number): EnvoyAdminView {
  const workload = world.workload(WEB);
  assert.ok(workload);
  return { workload, envoy: world.envoy(WEB), now };
}

describe('Envoy admin renderings', () => {
  it("/certs has Envoy's shape: two TLS contexts, string ints, RFC3339 without fractions", async () => {
    const { world } = await worldWithOneWorkload();
    const view = viewAt(world, T0 + 1_500);
    const res = renderCerts(view);
    assert.match(res.body, /\\u003cinline\\u003e/, 'protobuf JSON escapes < and >');
    const body = JSON.parse(res.body) as { certificates: { ca_cert: Record<string, unknown>[]; cert_chain: Record<string, unknown>[] }[] };
    assert.equal(body.certificates.length, 2);
    const leaf = body.certificates[0]?.cert_chain[0];
    assert.deepEqual(leaf, {
      path: '<inline>',
      serial_number: world.envoy(WEB).served?.serialHex,
      subject_alt_names: [{ uri: 'spiffe://example.org/ns/shop/sa/web' }],
      days_until_expiration: '0',
      valid_from: '2025-01-01T12:00:00Z',
      expiration_time: '2025-01-01T12:00:10Z',
    });
    assert.equal(body.certificates[1]?.ca_cert[0]?.path, 'example.org: <inline>');
    assert.equal(body.certificates[0]?.ca_cert[0]?.days_until_expiration, '364', 'floored: 365 days minus 1.5s');
  });

  it("/stats names follow Envoy's scopes and /server_info reports whole-second uptime", async () => {
    const { world } = await worldWithOneWorkload();
    const view = viewAt(world, T0 + 6_700);
    const stats = collectStats(view);
    assert.equal(stats.get('sds.spiffe_//example.org/ns/shop/sa/web.update_success'), 1);
    assert.equal(stats.get('sds.spiffe_//example.org/ns/shop/sa/web.update_rejected'), 0);
    assert.equal(stats.get('sds.spiffe_//example.org/ns/shop/sa/web.update_time'), T0);
    assert.equal(stats.get('server.state'), 0);
    assert.ok(stats.has('listener.0.0.0.0_15001.ssl.handshake'));
    const info = JSON.parse(renderServerInfo(view).body) as { state: string; uptime_current_epoch: string };
    assert.equal(info.state, 'LIVE');
    assert.equal(info.uptime_current_epoch, '6s');
  });
});
