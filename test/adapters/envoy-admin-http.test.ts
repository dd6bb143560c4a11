import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { EnvoyAdminError, EnvoyAdminHttp } from '../../src/adapters/envoy/admin-http.js';
import { SimEnvoyAdminServer } from '../../src/sim/envoy-admin-server.js';
import { SimWorld } from '../../src/sim/world.js';

const T0 = Date.UTC(2025, 0, 1, 12, 0, 0);
const WEB = 'shop/web-0';
const API = 'shop/api-0';

/** Asserts the promise rejects with an EnvoyAdminError whose message matches every pattern. */
async function rejectsWith(p: Promise<unknown>, ...patterns: RegExp[]): Promise<EnvoyAdminError> {
  let caught: unknown;
  await assert.rejects(p, (e: unknown) => {
    caught = e;
    return true;
  });
  assert.ok(caught instanceof EnvoyAdminError, `expected EnvoyAdminError, got ${String(caught)}`);
  for (const re of patterns) assert.match(caught.message, re);
  return caught;
}

/** A loopback server answering fixed bodies per path, for payloads the simulator never produces. */
async function cannedServer(routes: Record<string, { status?: number; body: string }>): Promise<{ server: Server; base: string }> {
  const server = createServer((req, res) => {
    const route = routes[req.url ?? ''];
    if (route === undefined) {
      res.writeHead(404).end('no route\n');
      return;
    }
    if (route.body === 'HANG') return;
    res.writeHead(route.status ?? 200, { 'content-type': 'application/json' }).end(route.body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, base: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) =>
    server.close(() => {
      resolve();
    }),
  );
}

describe('EnvoyAdminHttp against the simulated Envoy admin server', () => {
  let now = T0;
  let world: SimWorld;
  let sim: SimEnvoyAdminServer;
  const admin = new EnvoyAdminHttp({ timeoutMs: 2_000 });

  before(async () => {
    world = await SimWorld.create({ trustDomain: 'example.org', svidTtlMs: 10_000, envoyRestartMs: 500, now: () => now });
    await world.addWorkload({ id: WEB, spiffeId: 'spiffe://example.org/ns/shop/sa/web', platform: 'kubernetes', location: 'shop' });
    await world.addWorkload({ id: API, spiffeId: 'spiffe://example.org/ns/shop/sa/api', platform: 'kubernetes', location: 'shop' });
    sim = new SimEnvoyAdminServer(world);
    await sim.start();
  });
  after(async () => {
    await sim.close();
  });

  it('reads the served serial, SAN, validity and CA from /certs', async () => {
    const certs = await admin.readCerts(sim.adminUrl(WEB));
    const served = world.envoy(WEB).served;
    assert.equal(certs.kind, 'envoy.certs');
    assert.deepEqual(certs.chain, [
      { serialNumber: served?.serialHex, uriSans: ['spiffe://example.org/ns/shop/sa/web'], validFromMs: T0, expiresAtMs: T0 + 10_000 },
    ]);
    assert.deepEqual(
      certs.caCerts.map((c) => c.serialNumber),
      [world.ca.cert.serialHex],
    );
    assert.deepEqual(certs.caCerts[0]?.uriSans, ['spiffe://example.org']);
  });

  it('admin URLs encode the workload id and accept a trailing slash', async () => {
    assert.match(sim.adminUrl(WEB), /\/envoy\/shop%2Fweb-0$/);
    const certs = await admin.readCerts(`${sim.adminUrl(API)}/`);
    assert.equal(certs.chain[0]?.serialNumber, world.envoy(API).served?.serialHex);
  });

  it('a GET on /quitquitquit is a 400 and restarts nothing', async () => {
    const res = await fetch(`${sim.adminUrl(WEB)}/quitquitquit`);
    assert.equal(res.status, 400);
    assert.match(await res.text(), /mutates state, method=GET rather than POST/);
    assert.equal(world.envoy(WEB).restartCount, 0);
  });

  it('quit POSTs /quitquitquit; the Envoy restarts and answers 503 until it comes back', async () => {
    world.injectFault({ kind: 'envoy_sds_stuck', target: API });
    await admin.quit(sim.adminUrl(API));
    assert.equal(world.envoy(API).restartCount, 1);
    assert.equal(world.actionsOnHealthyTargets, 0);

    const err = await rejectsWith(admin.readCerts(sim.adminUrl(API)), /HTTP 503/, /\/envoy\/shop%2Fapi-0\/certs/);
    assert.equal(err.failure, 'http_status');
    assert.equal(err.status, 503);
    await rejectsWith(admin.quit(sim.adminUrl(API)), /quitquitquit: HTTP 503/);
    assert.equal(world.envoy(API).restartCount, 1, 'a down Envoy cannot take a quit');

    now += 500;
    await world.tick();
    const certs = await admin.readCerts(sim.adminUrl(API));
    assert.equal(certs.chain[0]?.serialNumber, world.agentSvid(API).serialHex);
    assert.notEqual(world.faults()[0]?.healedAt, null);
  });

  it('an unknown workload is a 404 naming the URL', async () => {
    const err = await rejectsWith(
      admin.readCerts(sim.adminUrl('shop/ghost-0')),
      /shop%2Fghost-0\/certs: HTTP 404/,
      /no simulated envoy for workload "shop\/ghost-0"/,
    );
    assert.equal(err.status, 404);
  });

  it('serves /ready, /server_info and /stats in Envoy text form', async () => {
    const ready = await fetch(`${sim.adminUrl(WEB)}/ready`);
    assert.equal(ready.status, 200);
    assert.equal(await ready.text(), 'LIVE\n');
    const info = (await (await fetch(`${sim.adminUrl(WEB)}/server_info`)).json()) as { state: string };
    assert.equal(info.state, 'LIVE');
    const stats = await (await fetch(`${sim.adminUrl(WEB)}/stats?filter=update_success$`)).text();
    assert.match(stats, /^sds\.spiffe_\/\/example\.org\/ns\/shop\/sa\/web\.update_success: 1$/m);
    assert.doesNotMatch(stats, /handshake/);
  });

  it("readServerInfo exposes node.metadata: the simulated Envoy carries the simulated fleet's marker", async () => {
    const info = await admin.readServerInfo(sim.adminUrl(WEB));
    assert.equal(info.state, 'LIVE');
    assert.equal(info.nodeMetadata['spire-healer.io/simulated'], 'true');
  });
});

describe('EnvoyAdminHttp failures', () => {
  const admin = new EnvoyAdminHttp({ timeoutMs: 300 });
  const leaf = {
    path: '<inline>',
    serial_number: 'ABCDEF01',
    subject_alt_names: [{ uri: 'spiffe://example.org/a' }],
    days_until_expiration: '0',
    valid_from: '2025-01-01T12:00:00Z',
    expiration_time: '2025-01-01T12:00:10Z',
  };
  let canned: { server: Server; base: string };

  before(async () => {
    canned = await cannedServer({
      '/garbage/certs': { body: '{"certificates": [' },
      '/html/certs': { body: '<html>upstream connect error</html>' },
      '/wrong-types/certs': { body: JSON.stringify({ certificates: [{ cert_chain: [{ ...leaf, expiration_time: 1736000000 }] }] }) },
      '/numeric-serial/certs': { body: JSON.stringify({ certificates: [{ cert_chain: [{ ...leaf, serial_number: 42 }] }] }) },
      '/not-object/certs': { body: '[]' },
      '/empty-contexts/certs': { body: JSON.stringify({ certificates: [{}, { ca_cert: [leaf] }, { ca_cert: [], cert_chain: [leaf] }] }) },
      '/no-certificates/certs': { body: '{}' },
      '/hang/certs': { body: 'HANG' },
      '/busy/quitquitquit': { status: 500, body: 'boom' },
      '/meta/server_info': {
        body: JSON.stringify({
          state: 'LIVE',
          uptime_current_epoch: '12s',
          version: 'abc/1.31.2',
          node: {
            id: 'x',
            metadata: { team: 'pay', 'spire-healer.io/simulated': 'false', n: 3, on: true, nested: { a: 'b' }, list: ['c'], nil: null },
          },
        }),
      },
      '/no-node/server_info': { body: JSON.stringify({ state: 'DRAINING' }) },
      '/no-metadata/server_info': { body: JSON.stringify({ state: 'LIVE', node: { id: 'x' } }) },
      '/garbage-node/server_info': { body: JSON.stringify({ state: 'LIVE', node: 'envoy' }) },
      '/garbage-metadata/server_info': { body: JSON.stringify({ state: 'LIVE', node: { metadata: ['a', 'b'] } }) },
      '/null-metadata/server_info': { body: JSON.stringify({ state: 'LIVE', node: { metadata: null } }) },
    });
  });
  after(async () => {
    await closeServer(canned.server);
  });

  it('malformed JSON names the URL and says invalid JSON', async () => {
    const err = await rejectsWith(admin.readCerts(`${canned.base}/garbage`), /\/garbage\/certs: invalid JSON/);
    assert.equal(err.failure, 'malformed');
  });

  it('a non-JSON body says invalid JSON and shows the body', async () => {
    await rejectsWith(admin.readCerts(`${canned.base}/html`), /\/html\/certs: invalid JSON/, /upstream connect error/);
  });

  it('a wrong field type names the field path', async () => {
    await rejectsWith(
      admin.readCerts(`${canned.base}/wrong-types`),
      /certificates\[0\]\.cert_chain\[0\]\.expiration_time: expected RFC3339 string/,
    );
    await rejectsWith(
      admin.readCerts(`${canned.base}/numeric-serial`),
      /certificates\[0\]\.cert_chain\[0\]\.serial_number: expected hex string/,
    );
    await rejectsWith(admin.readCerts(`${canned.base}/not-object`), /invalid \/certs payload: \(root\): expected a JSON object/);
  });

  it('missing or empty chains are allowed; the chain and CA come from the first context with a chain', async () => {
    const certs = await admin.readCerts(`${canned.base}/empty-contexts`);
    assert.deepEqual(certs.chain, [
      { serialNumber: 'abcdef01', uriSans: ['spiffe://example.org/a'], validFromMs: T0, expiresAtMs: T0 + 10_000 },
    ]);
    assert.deepEqual(certs.caCerts, [], 'the CA of the context that has the chain (empty), not of another context');
    assert.deepEqual(await admin.readCerts(`${canned.base}/no-certificates`), { kind: 'envoy.certs', chain: [], caCerts: [] });
  });

  it('a closed port is ECONNREFUSED naming the URL', async () => {
    const closed = await cannedServer({});
    await closeServer(closed.server);
    const err = await rejectsWith(
      admin.readCerts(closed.base),
      new RegExp(`^${closed.base.replace(/\./g, '\\.')}/certs: GET failed: ECONNREFUSED`),
    );
    assert.equal(err.failure, 'unreachable');
  });

  it('a hung endpoint times out; a caller abort is reported as such', async () => {
    const err = await rejectsWith(admin.readCerts(`${canned.base}/hang`), /\/hang\/certs: GET timed out after 300 ms/);
    assert.equal(err.failure, 'timeout');
    const aborted = await rejectsWith(admin.readCerts(`${canned.base}/hang`, AbortSignal.timeout(50)), /aborted by caller/);
    assert.equal(aborted.failure, 'aborted');
  });

  it('server_info: node.metadata keeps string values only; no node, no metadata or garbage there is an empty map, never an error', async () => {
    assert.deepEqual(await admin.readServerInfo(`${canned.base}/meta`), {
      state: 'LIVE',
      uptimeSeconds: 12,
      version: 'abc/1.31.2',
      nodeMetadata: { team: 'pay', 'spire-healer.io/simulated': 'false' },
    });
    assert.deepEqual(await admin.readServerInfo(`${canned.base}/no-node`), {
      state: 'DRAINING',
      uptimeSeconds: 0,
      version: '',
      nodeMetadata: {},
    });
    for (const path of ['no-metadata', 'garbage-node', 'garbage-metadata', 'null-metadata']) {
      assert.deepEqual((await admin.readServerInfo(`${canned.base}/${path}`)).nodeMetadata, {}, path);
    }
  });

  it('quit rejects a non-200 answer naming the status', async () => {
    await rejectsWith(admin.quit(`${canned.base}/busy`), /\/busy\/quitquitquit: HTTP 500 Internal Server Error: boom/);
  });
});
