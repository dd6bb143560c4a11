import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CloudRunAdminClient } from '../../src/adapters/cloudrun/cloudrun-admin.client.js';
import { RedisAuditLog } from '../../src/adapters/redis/redis-audit-log.js';
import { RedisKnowledgeStore } from '../../src/adapters/redis/redis-knowledge-store.js';
import type { Clock } from '../../src/knowledge/clock.js';
import { status } from '@grpc/grpc-js';
import { SecretManagerClient } from '../../src/adapters/secretmanager/secret-manager.client.js';
import { CLOUDRUN_ADMIN_URL_ANNOTATION, pollCloudRun } from '../../src/monitor/poll-cloudrun.js';
import { createTrustDomainCa } from '../../src/sim/certs.js';
import { SimSecretManagerServer } from '../../src/sim/secretmanager/secret-manager-server.js';
import { SimSecretManager } from '../../src/sim/secretmanager/secret-manager-state.js';
import { SimCloudRunAdminServer } from '../../src/sim/cloudrun/cloudrun-admin-server.js';
import { SimCloudRun } from '../../src/sim/cloudrun/cloudrun-state.js';
import { seedCloudRun } from '../../src/sim/cloudrun/seed-cloudrun.js';
import { uniquePrefix, withRedis } from '../support/redis.js';

const clock: Clock = { now: () => Date.now() };

describe('Cloud Run poll → knowledge (real ServicesClient, fake Admin API, real Redis)', () => {
  const redis = withRedis();
  const sim = new SimCloudRun({ readyDelayMs: 100 });
  const server = new SimCloudRunAdminServer(sim);
  let client: CloudRunAdminClient;
  let endpoint = '';

  before(async () => {
    seedCloudRun(sim, {
      project: 'acme',
      location: 'europe-west1',
      labels: { team: 'payments' },
      services: [
        { serviceId: 'pay', image: 'gcr.io/acme/pay:1', annotations: { [CLOUDRUN_ADMIN_URL_ANNOTATION]: 'http://127.0.0.1:9/envoy/pay' } },
        { serviceId: 'batch', image: 'gcr.io/acme/batch:1' },
      ],
    });
    const { port } = await server.start();
    endpoint = `127.0.0.1:${port}`;
    client = new CloudRunAdminClient({ apiEndpoint: '127.0.0.1', port, insecure: true, callTimeoutMs: 3_000 });
  });
  after(async () => {
    await client.close();
    await server.close();
  });

  function deps(prefix: string) {
    const conn = redis.connect();
    return {
      store: new RedisKnowledgeStore(conn, prefix),
      audit: new RedisAuditLog(conn, prefix),
      cloudRun: client,
      endpoint,
      clock,
      trustDomain: 'example.org',
    };
  }

  it('records each service, enrols annotated ones as workloads, and audits a revision that stops being ready', async () => {
    const d = deps(uniquePrefix('cr'));
    const first = await pollCloudRun(d, [{ project: 'acme', location: 'europe-west1' }]);
    assert.equal(first.probed, 2);
    assert.deepEqual(
      first.workloads.map((w) => [w.id, w.platform, w.spiffeId, w.envoyAdminUrl]),
      [['acme/europe-west1/pay', 'cloudrun', 'spiffe://example.org/run/acme/europe-west1/pay', 'http://127.0.0.1:9/envoy/pay']],
    );
    assert.deepEqual(
      first.workloads[0]?.labels,
      { 'managed-by': 'spire-healer-sim', team: 'payments' },
      "the service labels, for playbooks' match.labels",
    );
    const pay = await d.store.latestObservation('acme/europe-west1/pay', 'cloudrun.service');
    assert.equal(pay?.data.kind === 'cloudrun.service' && pay.data.ready, true);

    sim.setServiceNotReady('projects/acme/locations/europe-west1/services/pay', 'container failed to start');
    const second = await pollCloudRun(d, [{ project: 'acme', location: 'europe-west1' }]);
    assert.equal(second.changed, 1, 'only pay changed');
    const now = await d.store.latestObservation('acme/europe-west1/pay', 'cloudrun.service');
    assert.ok(now?.data.kind === 'cloudrun.service');
    assert.equal(now.data.ready, false);
    assert.match(now.data.notReady.join(' '), /container failed to start/);
    const audited = (await d.audit.list()).filter((e) => e.type === 'observation.changed' && e.subject === 'acme/europe-west1/pay');
    assert.match(audited.at(-1)?.message ?? '', /Cloud Run service .*pay is not ready: .*container failed to start/);
    sim.clearServiceNotReady('projects/acme/locations/europe-west1/services/pay');
  });

  it('an unlistable location is a probe.error naming the endpoint, and the pass goes on', async () => {
    const d = deps(uniquePrefix('cr'));
    sim.failCalls({ kind: 'unavailable', count: 1, method: 'ListServices' });
    const res = await pollCloudRun(d, [
      { project: 'acme', location: 'europe-west1' },
      { project: 'acme', location: 'us-east1' },
    ]);
    assert.equal(res.failed, 1);
    const err = await d.store.latestObservation('cloudrun:acme/europe-west1', 'cloudrun.service');
    assert.ok(err?.data.kind === 'probe.error');
    assert.match(err.data.endpoint, new RegExp(`${endpoint} ListServices projects/acme/locations/europe-west1`));
    assert.match(err.data.error, /UNAVAILABLE|unavailable/);
  });
});

describe('Cloud Run poll → the CA-bundle secret (real SecretManagerServiceClient, fake Secret Manager, real Redis)', () => {
  const SECRET = 'projects/acme/secrets/spire-bundle';
  const SUBJECT = `secret:${SECRET}`;
  const redis = withRedis();
  const run = new SimCloudRun({ readyDelayMs: 100 });
  const runServer = new SimCloudRunAdminServer(run);
  const secrets = new SimSecretManager(() => Date.now());
  const secretServer = new SimSecretManagerServer(secrets);
  let cloudRun: CloudRunAdminClient;
  let store: SecretManagerClient;
  let secretEndpoint = '';

  before(async () => {
    seedCloudRun(run, { project: 'acme', location: 'europe-west1', services: [{ serviceId: 'pay', image: 'gcr.io/acme/pay:1' }] });
    cloudRun = new CloudRunAdminClient({
      apiEndpoint: '127.0.0.1',
      port: (await runServer.start()).port,
      insecure: true,
      callTimeoutMs: 3_000,
    });
    const { port } = await secretServer.start();
    secretEndpoint = `127.0.0.1:${port}`;
    store = new SecretManagerClient({ apiEndpoint: '127.0.0.1', port, insecure: true, callTimeoutMs: 3_000 });
    secrets.createSecret(SECRET);
  });
  after(async () => {
    await cloudRun.close();
    await store.close();
    await runServer.close();
    await secretServer.close();
  });

  function deps(prefix: string) {
    const conn = redis.connect();
    return {
      store: new RedisKnowledgeStore(conn, prefix),
      audit: new RedisAuditLog(conn, prefix),
      cloudRun,
      endpoint: 'run',
      clock,
      trustDomain: 'example.org',
      bundleSecret: { secret: SECRET, store, endpoint: secretEndpoint },
    };
  }

  it("records the latest version's certificates as cloudrun.bundle on secret:<name>, and audits a new version that changes them", async () => {
    const d = deps(uniquePrefix('crs'));
    const empty = await pollCloudRun(d, [{ project: 'acme', location: 'europe-west1' }]);
    assert.equal(empty.failed, 0);
    const none = await d.store.latestObservation(SUBJECT, 'cloudrun.bundle');
    assert.ok(none?.data.kind === 'cloudrun.bundle');
    assert.deepEqual([none.data.version, none.data.certificates.length], [null, 0]);
    assert.match(none.data.problems.join(' '), /no readable version/);

    const [a, b] = await Promise.all([createTrustDomainCa('example.org', Date.now()), createTrustDomainCa('example.org', Date.now())]);
    secrets.addVersion(SECRET, Buffer.from(a.cert.pem));
    await pollCloudRun(d, [{ project: 'acme', location: 'europe-west1' }]);
    const one = await d.store.latestObservation(SUBJECT, 'cloudrun.bundle');
    assert.ok(one?.data.kind === 'cloudrun.bundle');
    assert.equal(one.data.version, '1');
    assert.deepEqual(
      one.data.certificates.map((c) => c.serialNumber.replace(/^0+/, '')),
      [a.cert.serialHex.replace(/^0+/, '')],
    );
    assert.deepEqual(one.data.problems, []);

    secrets.addVersion(SECRET, Buffer.from(`${a.cert.pem}\n${b.cert.pem}`));
    const third = await pollCloudRun(d, [{ project: 'acme', location: 'europe-west1' }]);
    assert.ok(third.changed >= 1);
    const two = await d.store.latestObservation(SUBJECT, 'cloudrun.bundle');
    assert.ok(two?.data.kind === 'cloudrun.bundle');
    assert.equal(two.data.version, '2');
    assert.equal(two.data.certificates.length, 2);
    const audited = (await d.audit.list()).filter((e) => e.type === 'observation.changed' && e.subject === SUBJECT);
    assert.match(audited.at(-1)?.message ?? '', /Secret projects\/acme\/secrets\/spire-bundle version 2 holds 2 CA certificates/);

    secrets.addVersion(SECRET, Buffer.from('-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n'));
    await pollCloudRun(d, [{ project: 'acme', location: 'europe-west1' }]);
    const bad = await d.store.latestObservation(SUBJECT, 'cloudrun.bundle');
    assert.ok(bad?.data.kind === 'cloudrun.bundle');
    assert.match(bad.data.problems.join(' '), /certificate #1 is not valid X\.509/);
  });

  it('a secret that cannot be read is a probe.error naming the endpoint, and the services are still recorded', async () => {
    const d = deps(uniquePrefix('crs'));
    secrets.failCalls({ code: status.PERMISSION_DENIED, count: 1, method: 'AccessSecretVersion' });
    const res = await pollCloudRun(d, [{ project: 'acme', location: 'europe-west1' }]);
    assert.equal(res.failed, 1);
    const err = await d.store.latestObservation(SUBJECT, 'cloudrun.bundle');
    assert.ok(err?.data.kind === 'probe.error');
    assert.match(err.data.endpoint, new RegExp(`${secretEndpoint} AccessSecretVersion ${SECRET}/versions/latest`));
    assert.match(err.data.error, /PERMISSION_DENIED|permission/i);
    assert.ok(await d.store.latestObservation('acme/europe-west1/pay', 'cloudrun.service'));
  });
});
