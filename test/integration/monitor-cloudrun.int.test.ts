import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CloudRunAdminClient } from '../../src/adapters/cloudrun/cloudrun-admin.client.js';
import { RedisAuditLog } from '../../src/adapters/redis/redis-audit-log.js';
import { RedisKnowledgeStore } from '../../src/adapters/redis/redis-knowledge-store.js';
import type { Clock } from '../../src/knowledge/clock.js';
import { CLOUDRUN_ADMIN_URL_ANNOTATION, CLOUDRUN_SERVICE_SOURCE, pollCloudRun } from '../../src/monitor/poll-cloudrun.js';
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
      project: 'acme', location: 'europe-west1', labels: { team: 'payments' },
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
    return { store: new RedisKnowledgeStore(conn, prefix), audit: new RedisAuditLog(conn, prefix), cloudRun: client, endpoint, clock, trustDomain: 'example.org' };
  }

  it('records each service, enrols annotated ones as workloads, and audits a revision that stops being ready', async () => {
    const d = deps(uniquePrefix('cr'));
    const first = await pollCloudRun(d, [{ project: 'acme', location: 'europe-west1' }]);
    assert.equal(first.probed, 2);
    assert.deepEqual(first.workloads.map((w) => [w.id, w.platform, w.spiffeId, w.envoyAdminUrl]), [
      ['acme/europe-west1/pay', 'cloudrun', 'spiffe://example.org/run/acme/europe-west1/pay', 'http://127.0.0.1:9/envoy/pay'],
    ]);
    assert.deepEqual(first.workloads[0]?.labels, { 'managed-by': 'spire-healer-sim', team: 'payments' }, 'the service labels, for playbooks\' match.labels');
    const pay = await d.store.latestObservation('acme/europe-west1/pay', CLOUDRUN_SERVICE_SOURCE);
    assert.equal(pay?.data.kind === 'cloudrun.service' && pay.data.ready, true);

    sim.setServiceNotReady('projects/acme/locations/europe-west1/services/pay', 'container failed to start');
    const second = await pollCloudRun(d, [{ project: 'acme', location: 'europe-west1' }]);
    assert.equal(second.changed, 1, 'only pay changed');
    const now = await d.store.latestObservation('acme/europe-west1/pay', CLOUDRUN_SERVICE_SOURCE);
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
    const res = await pollCloudRun(d, [{ project: 'acme', location: 'europe-west1' }, { project: 'acme', location: 'us-east1' }]);
    assert.equal(res.failed, 1);
    const err = await d.store.latestObservation('cloudrun:acme/europe-west1', CLOUDRUN_SERVICE_SOURCE);
    assert.ok(err?.data.kind === 'probe.error');
    assert.match(err.data.endpoint, new RegExp(`${endpoint} ListServices projects/acme/locations/europe-west1`));
    assert.match(err.data.error, /UNAVAILABLE|unavailable/);
  });
});
