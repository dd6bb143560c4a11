import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { CloudRunAdminClient } from '../../src/adapters/cloudrun/cloudrun-admin.client.js';
import { CloudRunError } from '../../src/adapters/cloudrun/cloudrun-error.js';
import type { CloudRunFailure } from '../../src/ports/cloudrun.port.js';
import { SimCloudRunAdminServer } from '../../src/sim/cloudrun/cloudrun-admin-server.js';
import { SimCloudRun } from '../../src/sim/cloudrun/cloudrun-state.js';
import { seedCloudRun } from '../../src/sim/cloudrun/seed-cloudrun.js';

const PROJECT = 'acme';
const LOCATION = 'europe-west1';
const PARENT = `projects/${PROJECT}/locations/${LOCATION}`;
const IDS = ['web', 'api', 'db', 'cache', 'queue', 'auth', 'search'];
const svc = (id: string): string => `${PARENT}/services/${id}`;
const RESTART = 'spire-healer.dev/restartedAt';

/** The CloudRunError `p` rejects with, checked for the expected failure. */
async function failsWith(p: Promise<unknown>, failure: CloudRunFailure): Promise<CloudRunError> {
  try {
    await p;
  } catch (e: unknown) {
    assert.ok(e instanceof CloudRunError, `expected a CloudRunError, got ${String(e)}`);
    assert.equal(e.failure, failure, e.message);
    return e;
  }
  throw new Error(`expected a ${failure} failure`);
}

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => {
    srv.listen(0, '127.0.0.1', resolve);
  });
  const address = srv.address();
  assert.ok(address !== null && typeof address === 'object');
  await new Promise<void>((resolve) => {
    srv.close(() => {
      resolve();
    });
  });
  return address.port;
}

describe('CloudRunAdminClient (real ServicesClient) against the fake over gRPC', () => {
  const sim = new SimCloudRun({ readyDelayMs: 150 });
  const server = new SimCloudRunAdminServer(sim);
  let client: CloudRunAdminClient;
  let endpoint = '';

  before(async () => {
    seedCloudRun(sim, {
      project: PROJECT,
      location: LOCATION,
      services: IDS.map((serviceId) => ({ serviceId, image: `gcr.io/acme/${serviceId}:1`, annotations: { owner: `team-${serviceId}` } })),
    });
    seedCloudRun(sim, { project: PROJECT, location: 'us-east1', services: [{ serviceId: 'elsewhere', image: 'gcr.io/acme/x:1' }] });
    const { port } = await server.start();
    endpoint = `127.0.0.1:${port}`;
    client = new CloudRunAdminClient({
      apiEndpoint: '127.0.0.1',
      port,
      insecure: true,
      pageSize: 3,
      pollInitialDelayMs: 25,
      callTimeoutMs: 3000,
      rolloutTimeoutMs: 5000,
    });
  });
  after(async () => {
    await client.close();
    await server.close();
  });

  it('listServices follows page tokens (7 services, page size 3) and stays in the location', async () => {
    const services = await client.listServices(PROJECT, LOCATION);
    assert.deepEqual(
      services.map((s) => s.serviceId),
      [...IDS].sort(),
    );
    assert.ok(services.every((s) => s.project === PROJECT && s.location === LOCATION));
  });

  it('getService maps the Service: ids, int64s as numbers, enums as names, timestamps, conditions, readiness', async () => {
    const s = await client.getService(svc('web'));
    const wire = sim.getService(svc('web'));
    assert.equal(s.name, svc('web'));
    assert.equal(s.serviceId, 'web');
    assert.equal(s.uid, wire.uid);
    assert.equal(s.etag, wire.etag);
    assert.match(s.uri, /^https:\/\/web-\d+\.europe-west1\.run\.app$/);
    assert.equal(s.generation, 1);
    assert.equal(s.observedGeneration, 1);
    assert.equal(s.reconciling, false);
    assert.match(s.latestReadyRevision, /\/revisions\/web-00001-[a-z]{3}$/);
    assert.equal(s.latestCreatedRevision, s.latestReadyRevision);
    assert.equal(s.terminalCondition?.type, 'Ready');
    assert.equal(s.terminalCondition.state, 'CONDITION_SUCCEEDED');
    assert.equal(s.terminalCondition.reason, '');
    assert.equal(
      s.terminalCondition.lastTransitionMs,
      Number(wire.terminalCondition?.lastTransitionTime?.seconds) * 1000 + (wire.terminalCondition?.lastTransitionTime?.nanos ?? 0) / 1e6,
    );
    assert.deepEqual(
      s.conditions.map((c) => [c.type, c.state]),
      [
        ['RoutesReady', 'CONDITION_SUCCEEDED'],
        ['ConfigurationsReady', 'CONDITION_SUCCEEDED'],
      ],
    );
    assert.equal(s.ready, true);
    assert.deepEqual(s.notReady, []);
    assert.deepEqual(s.annotations, { owner: 'team-web' });
    assert.equal(s.templateAnnotations['spire-healer.dev/spiffe-id'], 'spiffe://example.org/cloudrun/web');
    assert.deepEqual(
      s.containers.map((c) => c.name),
      ['envoy', 'app', 'spire-agent'],
    );
    assert.equal(s.containers[1]?.image, 'gcr.io/acme/web:1');
    assert.equal(typeof s.updateTimeMs, 'number');
    assert.ok(Math.abs((s.updateTimeMs ?? 0) - Date.now()) < 60_000);
  });

  it('updateTemplateAnnotation sets the annotation, waits for the operation and returns the ready new revision', async () => {
    const before = await client.getService(svc('api'));
    const rollout = await client.updateTemplateAnnotation(svc('api'), RESTART, '2025-01-01T00:00:00Z');
    assert.match(rollout.operation, /^projects\/acme\/locations\/europe-west1\/operations\//);
    const s = rollout.service;
    assert.equal(s.ready, true, s.notReady.join('; '));
    assert.equal(s.generation, 2);
    assert.equal(s.observedGeneration, 2);
    assert.match(s.latestReadyRevision, /\/revisions\/api-00002-[a-z]{3}$/);
    assert.notEqual(s.latestReadyRevision, before.latestReadyRevision);
    assert.equal(s.templateAnnotations[RESTART], '2025-01-01T00:00:00Z');
    assert.equal(
      s.templateAnnotations['spire-healer.dev/spiffe-id'],
      before.templateAnnotations['spire-healer.dev/spiffe-id'],
      'other annotations kept',
    );
    assert.deepEqual(
      sim.revisions(svc('api')).map((r) => r.state),
      ['ready', 'ready'],
    );
    const again = await client.updateTemplateAnnotation(svc('api'), RESTART, '2025-01-01T00:00:00Z');
    assert.equal(again.service.latestReadyRevision, s.latestReadyRevision, 'an unchanged template makes no revision');
    assert.equal(sim.revisions(svc('api')).length, 2);
  });

  it('a failing revision is rollout_failed with the operation message; latestReady stays and the service reads not ready', async () => {
    const before = await client.getService(svc('db'));
    sim.failRevisions(svc('db'), 'The user-provided container failed to start and listen on the port.');
    const err = await failsWith(client.updateTemplateAnnotation(svc('db'), RESTART, 'x'), 'rollout_failed');
    assert.match(err.message, /The user-provided container failed to start/);
    assert.match(err.message, /db-00002-[a-z]{3}/);
    assert.ok(err.message.includes(endpoint), err.message);
    const after = await client.getService(svc('db'));
    assert.equal(after.latestReadyRevision, before.latestReadyRevision);
    assert.equal(after.ready, false);
    assert.ok(
      after.notReady.some((r) => r.startsWith('latestReadyRevision')),
      after.notReady.join('; '),
    );
    assert.ok(
      after.notReady.some((r) => /CONDITION_FAILED \(REVISION_FAILED: Revision 'db-00002/.test(r)),
      after.notReady.join('; '),
    );
    assert.equal(after.conditions.find((c) => c.type === 'ConfigurationsReady')?.reason, 'HEALTH_CHECK_CONTAINER_ERROR');
    sim.clearRevisionFaults(svc('db'));
  });

  it('the revision-not-ready fault reads as ready=false with the reasons, and a new revision heals it', async () => {
    sim.setServiceNotReady(svc('cache'), 'Container called exit(1): no SVID from the SPIRE agent.');
    const s = await client.getService(svc('cache'));
    assert.equal(s.ready, false);
    assert.equal(s.terminalCondition?.state, 'CONDITION_FAILED');
    assert.equal(s.terminalCondition.reason, 'REVISION_FAILED');
    assert.equal(s.notReady.length, 1, s.notReady.join('; '));
    assert.match(s.notReady[0] ?? '', /terminal condition Ready is CONDITION_FAILED .*no SVID from the SPIRE agent/);
    assert.ok(s.conditions.some((c) => c.reason === 'HEALTH_CHECK_CONTAINER_ERROR'));
    const healed = await client.updateTemplateAnnotation(svc('cache'), RESTART, 'heal');
    assert.equal(healed.service.ready, true, healed.service.notReady.join('; '));
  });

  it('a rollout that never settles is a timeout, bounded by rolloutTimeoutMs', async () => {
    const quick = new CloudRunAdminClient({
      apiEndpoint: '127.0.0.1',
      port: Number(endpoint.split(':')[1]),
      insecure: true,
      pollInitialDelayMs: 25,
      rolloutTimeoutMs: 300,
    });
    try {
      sim.failRevisions(svc('queue'), 'never ready', { mode: 'stuck', count: 1 });
      const t0 = Date.now();
      const err = await failsWith(quick.updateTemplateAnnotation(svc('queue'), RESTART, 'stuck'), 'timeout');
      assert.ok(Date.now() - t0 < 3000);
      assert.match(err.message, /GetOperation/);
      sim.failRevisions(svc('auth'), 'never ready', { mode: 'stuck', count: 1 });
      const aborted = await failsWith(client.updateTemplateAnnotation(svc('auth'), RESTART, 'stuck', AbortSignal.timeout(200)), 'timeout');
      assert.match(aborted.message, /aborted by the caller/);
    } finally {
      await quick.close();
    }
  });

  it('an unknown service is not_found, naming endpoint, method, resource and code', async () => {
    const err = await failsWith(client.getService(svc('nope')), 'not_found');
    for (const part of [endpoint, 'GetService', svc('nope'), 'NOT_FOUND'])
      assert.ok(err.message.includes(part), `${part} missing from: ${err.message}`);
    await failsWith(client.updateTemplateAnnotation(svc('nope'), RESTART, 'x'), 'not_found');
  });

  it('UNAVAILABLE is not retried inside the client; a payload that is not a Service is malformed', async () => {
    sim.failCalls({ kind: 'unavailable', count: 1, method: 'GetService' });
    await failsWith(client.getService(svc('web')), 'unavailable');
    sim.failCalls({ kind: 'empty', count: 1, method: 'GetService' });
    const empty = await failsWith(client.getService(svc('web')), 'malformed');
    assert.match(empty.message, /no name/);
    sim.failCalls({ kind: 'garbage', count: 1, method: 'ListServices' });
    await failsWith(client.listServices(PROJECT, LOCATION), 'malformed');
    assert.equal((await client.getService(svc('web'))).ready, true, 'healthy once the faults are used up');
  });

  it('an aborted signal rejects without calling', async () => {
    const err = await failsWith(client.getService(svc('web'), AbortSignal.abort()), 'rpc');
    assert.equal(err.grpcCode, 'CANCELLED');
  });

  it('an unreachable endpoint is unavailable within a few seconds, naming the endpoint', async () => {
    const port = await closedPort();
    const dead = new CloudRunAdminClient({ apiEndpoint: '127.0.0.1', port, insecure: true });
    try {
      const t0 = Date.now();
      const err = await failsWith(dead.listServices(PROJECT, LOCATION), 'unavailable');
      assert.ok(Date.now() - t0 < 5000, `took ${Date.now() - t0} ms`);
      assert.ok(err.message.includes(`127.0.0.1:${port}`), err.message);
    } finally {
      await dead.close();
    }
  });
});
