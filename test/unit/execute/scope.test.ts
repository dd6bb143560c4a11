import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isPermanentError, PermanentActionError, scopeRefusal, type ActionScope } from '../../../src/execute/action.js';
import type { Workload } from '../../../src/knowledge/model/workload.js';

const w = (over: Partial<Workload> = {}): Workload => ({
  id: 'shop/web-0', spiffeId: 'spiffe://example.org/ns/shop/sa/web', trustDomain: 'example.org', platform: 'kubernetes', location: 'shop', envoyAdminUrl: 'http://127.0.0.1:9901', ...over,
});
const scope = (over: Partial<ActionScope> = {}): ActionScope => ({ production: false, simulated: false, trustDomains: [], namespaces: [], ...over });

describe('least privilege in code (table)', () => {
  const table: Record<string, { w?: Partial<Workload>; scope?: Partial<ActionScope>; want: RegExp | null }> = {
    'no limits': { want: null },
    'trust domain allowed': { scope: { trustDomains: ['example.org'] }, want: null },
    'trust domain outside': { scope: { trustDomains: ['prod.example'] }, want: /trust domain example.org, outside the configured prod.example/ },
    'namespace outside': { scope: { namespaces: ['payments'] }, want: /namespace shop, outside the configured payments/ },
    'Cloud Run ignores the namespace list': { w: { platform: 'cloudrun', location: 'p/r' }, scope: { namespaces: ['payments'] }, want: null },
    'production refuses the simulated fleet': { scope: { production: true, simulated: true }, want: /simulated fleet and the config says production: true/ },
    'a simulation refuses a real target': { w: { envoyAdminUrl: 'http://10.0.3.7:9901' }, scope: { simulated: true }, want: /not part of the simulated fleet/ },
    'a simulation acts on loopback': { scope: { simulated: true }, want: null },
  };
  for (const [name, t] of Object.entries(table)) {
    it(name, () => {
      const got = scopeRefusal(w(t.w), scope(t.scope));
      if (t.want === null) assert.equal(got, null);
      else assert.match(got ?? '', t.want);
    });
  }
});

describe('permanent vs transient errors', () => {
  it('classifies by error class, port failure and gRPC code', () => {
    assert.equal(isPermanentError(new PermanentActionError('paused')), true);
    assert.equal(isPermanentError(Object.assign(new Error('403'), { failure: { retryable: false } })), true);
    assert.equal(isPermanentError(Object.assign(new Error('503'), { failure: { retryable: true } })), false);
    assert.equal(isPermanentError(Object.assign(new Error('gone'), { failure: 'not_found' })), true);
    assert.equal(isPermanentError(Object.assign(new Error('later'), { failure: 'unavailable' })), false);
    assert.equal(isPermanentError(Object.assign(new Error('precondition'), { code: 9 })), true);
    assert.equal(isPermanentError(Object.assign(new Error('unavailable'), { code: 14 })), false);
    assert.equal(isPermanentError(new Error('ECONNRESET')), false);
  });
});
