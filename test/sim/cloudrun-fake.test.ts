import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Client, credentials, status, type MethodDefinition, type ServiceError } from '@grpc/grpc-js';
import { SimCloudRunAdminServer } from '../../src/sim/cloudrun/cloudrun-admin-server.js';
import type { ListServicesResponseMessage, OperationMessage, ServiceMessage } from '../../src/sim/cloudrun/cloudrun-messages.js';
import { loadCloudRunProtos, SERVICE_TYPE_URL } from '../../src/sim/cloudrun/cloudrun-protos.js';
import { SimCloudRun } from '../../src/sim/cloudrun/cloudrun-state.js';
import { seedCloudRun } from '../../src/sim/cloudrun/seed-cloudrun.js';

const T0 = Date.UTC(2025, 0, 1, 12, 0, 0);
const DELAY = 5_000;
const PARENT = 'projects/acme/locations/europe-west1';
const WEB = `${PARENT}/services/web`;
const protos = loadCloudRunProtos();

/** A raw grpc-js client of the fake: requests and responses exactly as they cross the wire. */
class RawClient extends Client {
  async call<Res>(def: MethodDefinition<object, unknown> | undefined, req: object): Promise<Res> {
    if (def === undefined) throw new Error('no such method');
    return new Promise<Res>((resolve, reject) => {
      this.makeUnaryRequest(def.path, def.requestSerialize, def.responseDeserialize, req, (err: ServiceError | null, res?: unknown) => {
        if (err !== null) reject(err);
        else resolve(res as Res);
      });
    });
  }
}

/** The rejection of `p` as a grpc ServiceError. */
async function rpcError(p: Promise<unknown>): Promise<ServiceError> {
  try {
    await p;
  } catch (e: unknown) {
    return e as ServiceError;
  }
  throw new Error('expected the call to fail');
}

describe('fake Cloud Run Admin API v2 over gRPC', () => {
  let now = T0;
  const sim = new SimCloudRun({ now: () => now, readyDelayMs: DELAY });
  const server = new SimCloudRunAdminServer(sim);
  let raw: RawClient;
  const get = (name: string) => raw.call<ServiceMessage>(protos.services.GetService, { name });
  const list = (pageSize: number, pageToken = '', parent = PARENT) =>
    raw.call<ListServicesResponseMessage>(protos.services.ListServices, { parent, pageSize, pageToken });
  const getOp = (name: string) => raw.call<OperationMessage>(protos.operations.GetOperation, { name });
  const update = (service: ServiceMessage) => raw.call<OperationMessage>(protos.services.UpdateService, { service });
  const withAnnotation = (s: ServiceMessage, key: string, value: string): ServiceMessage => {
    const t = s.template;
    assert.ok(t);
    return { ...s, template: { ...t, annotations: { ...t.annotations, [key]: value } } };
  };

  before(async () => {
    const ids = ['web', 'api', 'db', 'cache', 'queue', 'auth', 'search'];
    seedCloudRun(sim, {
      project: 'acme',
      location: 'europe-west1',
      services: ids.map((serviceId) => ({ serviceId, image: `gcr.io/acme/${serviceId}:1` })),
    });
    seedCloudRun(sim, { project: 'acme', location: 'us-east1', services: [{ serviceId: 'web', image: 'gcr.io/acme/web:1' }] });
    const { port } = await server.start();
    raw = new RawClient(`127.0.0.1:${port}`, credentials.createInsecure());
  });
  after(async () => {
    raw.close();
    await server.close();
  });

  it('ListServices pages by page_size with opaque tokens, sorted, only under the parent', async () => {
    const seen: string[] = [];
    const sizes: number[] = [];
    let token = '';
    do {
      const page = await list(3, token);
      sizes.push(page.services.length);
      seen.push(...page.services.map((s) => s.name));
      token = page.nextPageToken;
    } while (token !== '');
    assert.deepEqual(sizes, [3, 3, 1]);
    assert.deepEqual(
      seen,
      ['api', 'auth', 'cache', 'db', 'queue', 'search', 'web'].map((s) => `${PARENT}/services/${s}`),
    );
    const first = await list(3);
    const err = await rpcError(list(3, first.nextPageToken, 'projects/acme/locations/us-east1'));
    assert.equal(err.code, status.INVALID_ARGUMENT, 'a token is bound to its parent');
  });

  it('GetService: NOT_FOUND in Cloud Run wording for an unknown service, INVALID_ARGUMENT for a bad name', async () => {
    const missing = await rpcError(get(`${PARENT}/services/nope`));
    assert.equal(missing.code, status.NOT_FOUND);
    assert.match(missing.details, /Resource 'nope' of kind 'SERVICE' in region 'europe-west1' in project 'acme' does not exist/);
    assert.equal((await rpcError(get('services/web'))).code, status.INVALID_ARGUMENT);
  });

  it('a seeded service is ready at generation 1 with revision <id>-00001-xyz', async () => {
    const s = await get(WEB);
    assert.equal(s.generation, '1');
    assert.equal(s.observedGeneration, '1');
    assert.equal(s.reconciling, false);
    assert.match(s.latestReadyRevision ?? '', /^projects\/acme\/locations\/europe-west1\/services\/web\/revisions\/web-00001-[a-z]{3}$/);
    assert.equal(s.latestCreatedRevision, s.latestReadyRevision);
    assert.equal(s.terminalCondition?.state, 'CONDITION_SUCCEEDED');
    assert.equal(s.template?.containers.find((c) => c.name === 'app')?.image, 'gcr.io/acme/web:1');
    assert.match(s.uri ?? '', /^https:\/\/web-\d{12}\.europe-west1\.run\.app$/);
  });

  it('UpdateService → Operation; the new revision reconciles, then is ready once readyDelayMs has passed', async () => {
    const before = await get(WEB);
    const op = await update(withAnnotation(before, 'spire-healer.dev/restartedAt', 'one'));
    assert.equal(op.done, false);
    assert.match(op.name, /^projects\/acme\/locations\/europe-west1\/operations\/[0-9a-f]+$/);
    const rolling = await get(WEB);
    assert.equal(rolling.reconciling, true);
    assert.equal(rolling.generation, '2');
    assert.equal(rolling.observedGeneration, '1');
    assert.match(rolling.latestCreatedRevision ?? '', /\/revisions\/web-00002-[a-z]{3}$/);
    assert.equal(rolling.latestReadyRevision, before.latestReadyRevision);
    assert.equal(rolling.terminalCondition?.state, 'CONDITION_RECONCILING');
    now += DELAY - 1;
    assert.equal((await getOp(op.name)).done, false);
    now += 1;
    const done = await getOp(op.name);
    assert.equal(done.done, true);
    assert.deepEqual(
      await raw.call<OperationMessage>(protos.operations.WaitOperation, { name: op.name }),
      done,
      'WaitOperation answers at once with the same state',
    );
    assert.ok(done.response);
    assert.equal(done.response.type_url, SERVICE_TYPE_URL);
    const result = protos.canonicalService(protos.services.GetService?.responseDeserialize(done.response.value) as object);
    assert.equal(result.latestReadyRevision, rolling.latestCreatedRevision);
    const after = await get(WEB);
    assert.equal(after.latestReadyRevision, rolling.latestCreatedRevision);
    assert.equal(after.observedGeneration, '2');
    assert.equal(after.terminalCondition?.state, 'CONDITION_SUCCEEDED');
    assert.equal(after.template?.annotations['spire-healer.dev/restartedAt'], 'one');
  });

  it('failRevisions: the operation ends with the error, latest_ready stays on the old revision until cleared', async () => {
    const name = `${PARENT}/services/api`;
    sim.failRevisions(name, 'The user-provided container failed to start and listen on the port.');
    const before = await get(name);
    const op = await update(withAnnotation(before, 'k', 'v1'));
    now += DELAY;
    const done = await getOp(op.name);
    assert.equal(done.done, true);
    assert.equal(done.error?.code, status.FAILED_PRECONDITION);
    assert.match(
      done.error.message,
      /Revision 'api-00002-[a-z]{3}' is not ready and cannot serve traffic\. The user-provided container failed/,
    );
    const failed = await get(name);
    assert.equal(failed.latestReadyRevision, before.latestReadyRevision);
    assert.notEqual(failed.latestCreatedRevision, failed.latestReadyRevision);
    assert.equal(failed.terminalCondition?.state, 'CONDITION_FAILED');
    assert.equal(failed.terminalCondition.reason, 'REVISION_FAILED');
    assert.equal(failed.conditions?.find((c) => c.type === 'ConfigurationsReady')?.revisionReason, 'HEALTH_CHECK_CONTAINER_ERROR');
    // Sticky until cleared.
    await update(withAnnotation(failed, 'k', 'v2'));
    now += DELAY;
    assert.equal((await get(name)).terminalCondition?.state, 'CONDITION_FAILED');
    sim.clearRevisionFaults(name);
    const op3 = await update(withAnnotation(await get(name), 'k', 'v3'));
    now += DELAY;
    assert.ok((await getOp(op3.name)).response);
    const healed = await get(name);
    assert.equal(healed.latestReadyRevision, healed.latestCreatedRevision);
    assert.deepEqual(
      sim.revisions(name).map((r) => r.state),
      ['ready', 'failed', 'failed', 'ready'],
    );
  });

  it('setServiceNotReady: terminal condition failed on the serving revision; clear restores it, a new revision heals it', async () => {
    const name = `${PARENT}/services/db`;
    const before = await get(name);
    sim.setServiceNotReady(name, 'Container crashed: SVID fetch failed', 'HEALTH_CHECK_CONTAINER_ERROR');
    const broken = await get(name);
    assert.equal(broken.terminalCondition?.state, 'CONDITION_FAILED');
    assert.match(broken.terminalCondition.message, /db-00001-[a-z]{3}.*SVID fetch failed/);
    assert.equal(broken.latestReadyRevision, before.latestReadyRevision);
    sim.clearServiceNotReady(name);
    assert.deepEqual((await get(name)).terminalCondition, before.terminalCondition);
    sim.setServiceNotReady(name, 'again');
    await update(withAnnotation(await get(name), 'restart', '1'));
    now += DELAY;
    const healed = await get(name);
    assert.equal(healed.terminalCondition?.state, 'CONDITION_SUCCEEDED');
    assert.match(healed.latestReadyRevision ?? '', /db-00002-/);
  });

  it('a metadata-only change finishes at once without a new revision', async () => {
    const name = `${PARENT}/services/cache`;
    const s = await get(name);
    const op = await update({ ...s, labels: { ...s.labels, team: 'edge' } });
    assert.equal(op.done, true);
    assert.equal(sim.revisions(name).length, 1);
    assert.equal((await get(name)).labels?.team, 'edge');
  });

  it('transport faults on the wire: UNAVAILABLE for N calls, undecodable bytes, an empty message', async () => {
    sim.failCalls({ kind: 'unavailable', count: 2, method: 'GetService' });
    assert.equal((await rpcError(get(WEB))).code, status.UNAVAILABLE);
    assert.equal((await list(1)).services.length, 1, 'other methods are unaffected');
    assert.equal((await rpcError(get(WEB))).code, status.UNAVAILABLE);
    assert.equal((await get(WEB)).name, WEB);
    sim.failCalls({ kind: 'garbage', count: 1 });
    const garbled = await rpcError(get(WEB));
    assert.equal(garbled.code, status.INTERNAL);
    assert.match(garbled.details, /Response message parsing error/);
    sim.failCalls({ kind: 'empty', count: 1, method: 'GetService' });
    assert.equal((await get(WEB)).name, '');
  });

  it('other methods answer UNIMPLEMENTED', async () => {
    const err = await rpcError(raw.call(protos.services.DeleteService, { name: WEB }));
    assert.equal(err.code, status.UNIMPLEMENTED);
  });
});
