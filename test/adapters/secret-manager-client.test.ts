/**
 * The Secret Manager adapter (real SecretManagerServiceClient from @google-cloud/secret-manager)
 * against the fake Secret Manager over gRPC, and the Cloud Run adapter's secret-mount side
 * (secretVolumes, updateSecretMount) against the fake Cloud Run Admin API.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { status } from '@grpc/grpc-js';
import { CloudRunAdminClient } from '../../src/adapters/cloudrun/cloudrun-admin.client.js';
import { SecretManagerError } from '../../src/adapters/secretmanager/secret-manager-error.js';
import { SecretManagerClient } from '../../src/adapters/secretmanager/secret-manager.client.js';
import type { SecretStoreFailure } from '../../src/ports/secret-store.port.js';
import { SimCloudRunAdminServer } from '../../src/sim/cloudrun/cloudrun-admin-server.js';
import { SimCloudRun } from '../../src/sim/cloudrun/cloudrun-state.js';
import { seedCloudRun } from '../../src/sim/cloudrun/seed-cloudrun.js';
import { SimSecretManagerServer } from '../../src/sim/secretmanager/secret-manager-server.js';
import { SimSecretManager } from '../../src/sim/secretmanager/secret-manager-state.js';

const SECRET = 'projects/acme/secrets/spire-bundle';
const NUMBER = SimSecretManager.projectNumber('acme');

async function failsWith(p: Promise<unknown>, failure: SecretStoreFailure): Promise<SecretManagerError> {
  try {
    await p;
  } catch (e: unknown) {
    assert.ok(e instanceof SecretManagerError, `expected a SecretManagerError, got ${String(e)}`);
    assert.equal(e.failure, failure, e.message);
    return e;
  }
  throw new Error(`expected a ${failure} failure`);
}

describe('SecretManagerClient (real SecretManagerServiceClient) against the fake over gRPC', () => {
  let now = 1_750_000_000_000;
  const sim = new SimSecretManager(() => now);
  const server = new SimSecretManagerServer(sim);
  let client: SecretManagerClient;
  before(async () => {
    sim.createSecret(SECRET, { 'spire-healer.io/simulated': 'true' });
    const { port } = await server.start();
    client = new SecretManagerClient({ apiEndpoint: '127.0.0.1', port, insecure: true, callTimeoutMs: 3_000 });
  });
  after(async () => {
    await client.close();
    await server.close();
  });

  it('GetSecret returns the name (with the project number, as the real API does) and the labels', async () => {
    const info = await client.getSecret(SECRET);
    assert.equal(info.name, `projects/${NUMBER}/secrets/spire-bundle`);
    assert.deepEqual(info.labels, { 'spire-healer.io/simulated': 'true' });
  });

  it('readLatest is null for a secret without versions; addVersion and readLatest round-trip the bytes with the create time', async () => {
    assert.equal(await client.readLatest(SECRET), null);
    const name = await client.addVersion(SECRET, Buffer.from('first'));
    assert.equal(name, `projects/${NUMBER}/secrets/spire-bundle/versions/1`);
    now += 5_000;
    await client.addVersion(SECRET, Buffer.from('second'));
    const latest = await client.readLatest(SECRET);
    assert.ok(latest);
    assert.equal(latest.version, '2');
    assert.equal(Buffer.from(latest.data).toString(), 'second');
    assert.equal(latest.createTimeMs, now);
  });

  it('a disabled newest version reads as nothing readable; a missing secret is not_found; a denied call is permission_denied', async () => {
    sim.disableVersion(`${SECRET}/versions/2`);
    assert.equal(await client.readLatest(SECRET), null);
    await failsWith(client.readLatest('projects/acme/secrets/nope'), 'not_found');
    await failsWith(client.getSecret('projects/acme/secrets/nope'), 'not_found');
    sim.failCalls({ code: status.PERMISSION_DENIED, count: 1, method: 'AddSecretVersion' });
    const denied = await failsWith(client.addVersion(SECRET, Buffer.from('x')), 'permission_denied');
    assert.match(
      denied.message,
      /^Secret Manager AddSecretVersion projects\/acme\/secrets\/spire-bundle at 127\.0\.0\.1:\d+ failed: permission_denied \(gRPC PERMISSION_DENIED\)/,
    );
    await failsWith(client.addVersion(SECRET, Buffer.alloc(64 * 1024 + 1)), 'invalid_argument');
    sim.failCalls({ code: status.UNAVAILABLE, count: 1 });
    await failsWith(client.getSecret(SECRET), 'unavailable');
  });
});

describe('CloudRunAdminClient secret mounts against the fake', () => {
  const sim = new SimCloudRun({ readyDelayMs: 100 });
  const server = new SimCloudRunAdminServer(sim);
  let client: CloudRunAdminClient;
  const name = 'projects/acme/locations/europe-west1/services/pay';
  before(async () => {
    seedCloudRun(sim, {
      project: 'acme',
      location: 'europe-west1',
      bundleSecret: { secret: 'spire-bundle', version: '3' },
      services: [{ serviceId: 'pay', image: 'gcr.io/acme/pay:1' }],
    });
    const { port } = await server.start();
    client = new CloudRunAdminClient({
      apiEndpoint: '127.0.0.1',
      port,
      insecure: true,
      pollInitialDelayMs: 25,
      callTimeoutMs: 3000,
      rolloutTimeoutMs: 5000,
    });
  });
  after(async () => {
    await client.close();
    await server.close();
  });

  it('reports secret volumes and moves numerically pinned items to a new version in one new revision', async () => {
    const before = await client.getService(name);
    assert.deepEqual(before.secretVolumes, [
      { volume: 'spire-bundle', secret: 'spire-bundle', items: [{ path: 'bundle.crt', version: '3' }] },
    ]);
    const rollout = await client.updateSecretMount(name, {
      annotation: { key: 'spire-healer.io/bundle-version', value: `${SECRET}/versions/4` },
      pin: { secrets: ['spire-bundle'], version: '4' },
    });
    assert.equal(rollout.service.ready, true);
    assert.deepEqual(rollout.service.secretVolumes[0]?.items, [{ path: 'bundle.crt', version: '4' }]);
    assert.equal(rollout.service.templateAnnotations['spire-healer.io/bundle-version'], `${SECRET}/versions/4`);
    assert.equal(sim.revisions(name).length, 2);
    const other = await client.updateSecretMount(name, {
      annotation: { key: 'k', value: 'v' },
      pin: { secrets: ['another-secret'], version: '9' },
    });
    assert.deepEqual(
      other.service.secretVolumes[0]?.items,
      [{ path: 'bundle.crt', version: '4' }],
      'a volume of another secret is not touched',
    );
  });
});
