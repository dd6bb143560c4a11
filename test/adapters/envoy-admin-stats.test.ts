import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { EnvoyAdminError, EnvoyAdminHttp } from '../../src/adapters/envoy/admin-http.js';
import { reduceEnvoyStats } from '../../src/adapters/envoy/envoy-stats.js';
import { observationStateKey, type Observation } from '../../src/knowledge/model/observation.js';
import { SimEnvoyAdminServer } from '../../src/sim/envoy-admin-server.js';
import { SimWorld } from '../../src/sim/world.js';

describe('reduceEnvoyStats (pure)', () => {
  it('splits SDS scopes whose secret names contain dots and colons-as-underscores', () => {
    const d = reduceEnvoyStats([
      ['sds.spiffe_//example.org/ns/shop/sa/web.update_success', 7],
      ['sds.spiffe_//example.org/ns/shop/sa/web.update_rejected', 2],
      ['sds.spiffe_//example.org/ns/shop/sa/web.update_time', 1_795_000_000_000],
      ['sds.ROOTCA.init_fetch_timeout', 1],
      ['listener.0.0.0.0_15001.ssl.handshake', 100],
      ['listener.0.0.0.0_15001.ssl.fail_verify_error', 3],
      ['cluster.outbound_api.ssl.fail_verify_san', 1],
      ['listener.0.0.0.0_15001.server_ssl_socket_factory.downstream_context_secrets_not_ready', 4],
      ['cluster.outbound_api.client_ssl_socket_factory.upstream_context_secrets_not_ready', 1],
      ['server.state', 0],
      ['cluster.spire_agent.upstream_cx_active', 1],
    ]);
    const web = d.sds.find((s) => s.secret === 'spiffe_//example.org/ns/shop/sa/web');
    assert.deepEqual(web, {
      secret: 'spiffe_//example.org/ns/shop/sa/web',
      updateSuccess: 7,
      updateRejected: 2,
      updateFailure: 0,
      initFetchTimeout: 0,
      keyRotationFailed: 0,
      updateTimeMs: 1_795_000_000_000,
    });
    assert.equal(d.sds.find((s) => s.secret === 'ROOTCA')?.initFetchTimeout, 1);
    assert.deepEqual(d.ssl.map((s) => [s.scope, s.handshake, s.failVerifyError, s.failVerifySan]).sort(), [
      ['cluster.outbound_api', 0, 0, 1],
      ['listener.0.0.0.0_15001', 100, 3, 0],
    ]);
    assert.equal(d.secretsNotReady, 5);
    assert.equal(d.serverState, 0);
  });

  it('the audited state ignores handshakes but changes with failure counters', () => {
    const obs = (handshake: number, verify: number): Observation => ({
      subject: 's',
      source: 'envoy.stats',
      observedAt: 0,
      data: reduceEnvoyStats([
        ['listener.x.ssl.handshake', handshake],
        ['listener.x.ssl.fail_verify_error', verify],
      ]),
    });
    assert.equal(observationStateKey(obs(1, 0)), observationStateKey(obs(500, 0)));
    assert.notEqual(observationStateKey(obs(1, 0)), observationStateKey(obs(1, 1)));
  });
});

describe('EnvoyAdminHttp /stats, /ready, /server_info against the simulated Envoy', () => {
  let now = Date.UTC(2026, 0, 1, 12);
  let world: SimWorld;
  let server: SimEnvoyAdminServer;
  const envoy = new EnvoyAdminHttp({ timeoutMs: 1_000 });
  before(async () => {
    world = await SimWorld.create({ trustDomain: 'example.org', svidTtlMs: 10_000, envoyRestartMs: 500, now: () => now });
    await world.addWorkload({
      id: 'shop/web-0',
      spiffeId: 'spiffe://example.org/ns/shop/sa/web',
      platform: 'kubernetes',
      location: 'shop',
    });
    server = new SimEnvoyAdminServer(world);
    await server.start(0);
  });
  after(async () => {
    await server.close();
  });

  it('reads the SDS counters of the workload SVID and the bundle, and the TLS scopes', async () => {
    const s = await envoy.readStats(server.adminUrl('shop/web-0'));
    assert.deepEqual(s.sds.map((x) => x.secret).sort(), ['spiffe_//example.org', 'spiffe_//example.org/ns/shop/sa/web']);
    assert.ok((s.sds[0]?.updateSuccess ?? 0) >= 1);
    assert.ok(s.ssl.length >= 2);
    assert.equal(s.serverState, 0);
  });

  it('ready is true while live and false (not an error) while restarting; server_info follows', async () => {
    const url = server.adminUrl('shop/web-0');
    assert.equal(await envoy.readReady(url), true);
    assert.equal((await envoy.readServerInfo(url)).state, 'LIVE');
    world.quitEnvoy('shop/web-0');
    await assert.rejects(envoy.readServerInfo(url), /HTTP 503/);
    assert.equal(await envoy.readReady(url), false);
    now += 1_000;
    await world.tick();
    assert.equal(await envoy.readReady(url), true);
    assert.equal((await envoy.readServerInfo(url)).uptimeSeconds, 0);
  });
});

describe('EnvoyAdminHttp /stats and /server_info with bad payloads', () => {
  let srv: Server;
  let base = '';
  const bodies: Record<string, string> = {
    '/a/stats?format=json': '{"stats":[{"name":"server.state","value":"zero"},{"histograms":{}}]}',
    '/b/stats?format=json': '{"stats":"nope"}',
    '/c/stats?format=json': 'server.state: 0\n',
    '/d/server_info': '{"state":"SLEEPING","uptime_current_epoch":"6s"}',
  };
  before(async () => {
    srv = createServer((req, res) => {
      const body = bodies[req.url ?? ''];
      if (body === undefined) res.writeHead(404).end();
      else res.writeHead(200).end(body);
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(srv.address() as AddressInfo).port}`;
  });
  after(async () => {
    srv.closeAllConnections();
    await new Promise<void>((r) =>
      srv.close(() => {
        r();
      }),
    );
  });

  it('text readouts (string values) are ignored, not fatal', async () => {
    const s = await envoy().readStats(`${base}/a`);
    assert.equal(s.serverState, null);
  });
  it('a wrong shape names the field', async () => {
    await assert.rejects(
      envoy().readStats(`${base}/b`),
      (e: unknown) =>
        e instanceof EnvoyAdminError && /\/stats\?format=json: invalid \/stats payload: stats: expected array/.test(e.message),
    );
  });
  it('text where JSON was asked is invalid JSON naming the endpoint', async () => {
    await assert.rejects(
      envoy().readStats(`${base}/c`),
      (e: unknown) => e instanceof EnvoyAdminError && e.failure === 'malformed' && /invalid JSON/.test(e.message),
    );
  });
  it('an unknown server state names the field', async () => {
    await assert.rejects(envoy().readServerInfo(`${base}/d`), /state: expected LIVE\|DRAINING/);
  });
  function envoy(): EnvoyAdminHttp {
    return new EnvoyAdminHttp({ timeoutMs: 1_000 });
  }
});
