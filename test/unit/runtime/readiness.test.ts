import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readinessOf, type ReadinessInput } from '../../../src/runtime/readiness.js';

const base: ReadinessInput = {
  running: true,
  now: 100_000,
  redis: { reachable: true, since: 0, lastError: null },
  actors: [{ name: 'plan', status: 'active' }],
  lastPassAt: new Map([['plan', 90_000]]),
  stallAfterMs: 30_000,
};

describe('readiness', () => {
  it('is ready when running, Redis reachable, every actor active and every stage recent', () => {
    assert.deepEqual(readinessOf(base), { ready: true, reasons: [] });
  });

  it('names each reason it is not ready', () => {
    const r = readinessOf({
      ...base,
      redis: { reachable: false, since: 60_000, lastError: 'connect ECONNREFUSED' },
      actors: [{ name: 'plan', status: 'stopped' }],
      lastPassAt: new Map([['plan', 60_000]]),
    });
    assert.equal(r.ready, false);
    assert.deepEqual(r.reasons, [
      'redis unreachable since 1970-01-01T00:01:00.000Z (connect ECONNREFUSED): nothing is decided or started',
      'stage plan stopped',
      'stage plan stalled: no pass completed for 40s',
    ]);
  });
});
