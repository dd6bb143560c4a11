import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { protos } from '@google-cloud/run';
import { MalformedServiceError, toCloudRunService } from '../../src/adapters/cloudrun/cloudrun-service-map.js';

type RawService = protos.google.cloud.run.v2.IService;
const NAME = 'projects/acme/locations/europe-west1/services/web';
const REV1 = `${NAME}/revisions/web-00001-abc`;
const REV2 = `${NAME}/revisions/web-00002-xyz`;

/** A stand-in for protobufjs' Long: an object whose toString is the decimal value. */
const long = (n: number) => ({ low: n, high: 0, unsigned: false, toString: () => String(n) });

/** A ready service in the grpc unary shape (int64 strings, enum names). */
function ready(over: Partial<RawService> = {}): RawService {
  return {
    name: NAME,
    uid: 'u-1',
    uri: 'https://web.run.app',
    etag: '"e1"',
    generation: '3',
    observedGeneration: '3',
    reconciling: false,
    latestCreatedRevision: REV1,
    latestReadyRevision: REV1,
    terminalCondition: {
      type: 'Ready',
      state: 'CONDITION_SUCCEEDED',
      message: '',
      lastTransitionTime: { seconds: '1735732800', nanos: 250_000_000 },
    },
    conditions: [{ type: 'RoutesReady', state: 'CONDITION_SUCCEEDED' }],
    annotations: { a: 'b' },
    template: { annotations: { t: 'u' }, containers: [{ name: 'app', image: 'img:1' }] },
    updateTime: { seconds: '1735732800', nanos: 0 },
    ...over,
  };
}

describe('toCloudRunService', () => {
  it('maps the unary shape: int64 strings → numbers, timestamps → ms, ready with no reasons', () => {
    const s = toCloudRunService(ready());
    assert.equal(s.generation, 3);
    assert.equal(s.terminalCondition?.lastTransitionMs, 1735732800250);
    assert.equal(s.updateTimeMs, 1735732800000);
    assert.deepEqual([s.project, s.location, s.serviceId], ['acme', 'europe-west1', 'web']);
    assert.equal(s.ready, true);
    assert.deepEqual(s.notReady, []);
  });

  it('maps the service labels (empty when absent), apart from the annotations', () => {
    const s = toCloudRunService(ready({ labels: { team: 'pay', 'spire-healer.io/simulated': 'true' } }));
    assert.deepEqual(s.labels, { team: 'pay', 'spire-healer.io/simulated': 'true' });
    assert.deepEqual(s.annotations, { a: 'b' });
    assert.deepEqual(toCloudRunService(ready()).labels, {});
    assert.deepEqual(toCloudRunService(ready({ labels: null })).labels, {});
  });

  it('maps the LRO shape: Long int64s and numeric enums', () => {
    // What gax's LRO decoder (protobufjs decode) yields: Long objects and enum numbers.
    const lro = {
      ...ready(),
      generation: long(4),
      observedGeneration: long(4),
      terminalCondition: { type: 'Ready', state: 3, revisionReason: 6, reason: 0 },
    };
    const s = toCloudRunService(lro as unknown as RawService);
    assert.equal(s.generation, 4);
    assert.equal(s.terminalCondition?.state, 'CONDITION_FAILED');
    assert.equal(s.terminalCondition.reason, '6');
    assert.equal(s.ready, false);
  });

  const notReadyCases: Record<string, { over: Partial<RawService>; want: RegExp }> = {
    'a rollout in progress': { over: { reconciling: true }, want: /reconciling/ },
    'observedGeneration behind generation': { over: { generation: '4' }, want: /observedGeneration 3 lags generation 4/ },
    'latest created revision not ready': {
      over: { latestCreatedRevision: REV2 },
      want: /latestReadyRevision ".*web-00001-abc" is not latestCreatedRevision ".*web-00002-xyz"/,
    },
    'terminal condition failed, with reason and message': {
      over: { terminalCondition: { type: 'Ready', state: 'CONDITION_FAILED', reason: 'REVISION_FAILED', message: 'boom' } },
      want: /terminal condition Ready is CONDITION_FAILED \(REVISION_FAILED: boom\)/,
    },
    'no terminal condition': { over: { terminalCondition: null }, want: /no terminal condition/ },
  };
  for (const [name, { over, want }] of Object.entries(notReadyCases)) {
    it(`not ready: ${name}`, () => {
      const s = toCloudRunService(ready(over));
      assert.equal(s.ready, false);
      assert.equal(s.notReady.length, 1, s.notReady.join('; '));
      assert.match(s.notReady[0] ?? '', want);
    });
  }

  const malformedCases: Record<string, { raw: RawService | null; want: RegExp }> = {
    'no message at all': { raw: null, want: /no Service/ },
    'no name': { raw: ready({ name: '' }), want: /no name/ },
    'a name that is not a service': { raw: ready({ name: 'projects/acme/services/web' }), want: /not projects\/<p>/ },
    'no template': { raw: ready({ template: null }), want: /no template/ },
    'a negative generation': { raw: ready({ generation: '-1' }), want: /generation is not a non-negative int64/ },
    'a non-numeric generation': { raw: ready({ generation: 'x' }), want: /generation/ },
    'a label that is not a string': {
      raw: ready({ labels: { team: 3 } as unknown as Record<string, string> }),
      want: /labels\[team\] is not a string/,
    },
  };
  for (const [name, { raw, want }] of Object.entries(malformedCases)) {
    it(`malformed: ${name}`, () => {
      assert.throws(
        () => toCloudRunService(raw),
        (e: unknown) => e instanceof MalformedServiceError && want.test(e.message),
      );
    });
  }
});
