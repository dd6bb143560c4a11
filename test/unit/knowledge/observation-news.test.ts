import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isNews, rotationMissed } from '../../../src/knowledge/observation-news.js';
import type { Observation, ObservationData, ServedCertificate } from '../../../src/knowledge/model/observation.js';
import type { RotationPolicy } from '../../../src/knowledge/svid-rotation.js';

const policy: RotationPolicy = { rotateAtFraction: 0.5, graceMs: 1_000 };
const ID = 'spiffe://example.org/ns/shop/sa/web';
/** A 10 s leaf: rotation due at validFrom + 5 s, overdue after + 6 s, expired at + 10 s. */
const leaf = (serial: string, validFromMs: number, spiffeId = ID): ServedCertificate => ({
  serialNumber: serial,
  uriSans: [spiffeId],
  validFromMs,
  expiresAtMs: validFromMs + 10_000,
});
const ca = (serial: string): ServedCertificate => ({ serialNumber: serial, uriSans: [], validFromMs: 0, expiresAtMs: 1e12 });
const obs = (observedAt: number, data: ObservationData, source: Observation['source'] = 'envoy.certs'): Observation => ({
  subject: 'shop/web-0',
  source,
  observedAt,
  data,
});
const certs = (at: number, chain: ServedCertificate[], cas = [ca('c1')]): Observation =>
  obs(at, { kind: 'envoy.certs', chain, caCerts: cas });
const svid = (at: number, s: ServedCertificate | null, node = 'node-0'): Observation =>
  obs(at, { kind: 'spire.svid', node, svid: s }, 'spire.delegated.svid');
const error = (at: number, message: string, source: Observation['source'] = 'envoy.certs'): Observation =>
  obs(at, { kind: 'probe.error', probe: source, endpoint: 'http://10.0.0.1:15000/certs', error: message }, source);
const agent = (at: number, expires: number): Observation =>
  obs(
    at,
    {
      kind: 'spire.agent',
      node: 'node-0',
      agentId: 'spiffe://example.org/agent',
      lastSyncSuccessMs: at,
      agentSvidExpiresAtMs: expires,
      cachedX509Svids: 1,
    },
    'spire.agent.debug',
  );
const stats = (at: number, rejected: number): Observation =>
  obs(
    at,
    {
      kind: 'envoy.stats',
      sds: [
        {
          secret: 's',
          updateSuccess: at,
          updateRejected: rejected,
          updateFailure: 0,
          initFetchTimeout: 0,
          keyRotationFailed: 0,
          updateTimeMs: at,
        },
      ],
      ssl: [],
      secretsNotReady: 0,
      serverState: 0,
    },
    'envoy.stats',
  );

const cases: Record<string, { previous: Observation | null; next: Observation; news: boolean }> = {
  'a first observation is news': { previous: null, next: certs(1_000, [leaf('a', 0)]), news: true },
  'the same state seen again is not news': { previous: certs(1_000, [leaf('a', 0)]), next: certs(2_000, [leaf('a', 0)]), news: false },
  'Envoy serving a new leaf while the previous one is inside its window is not news': {
    previous: certs(4_000, [leaf('a', 0)]),
    next: certs(5_500, [leaf('b', 5_000)]),
    news: false,
  },
  'the agent streaming a new SVID while the previous one is inside its window is not news': {
    previous: svid(4_000, leaf('a', 0)),
    next: svid(5_200, leaf('b', 5_000)),
    news: false,
  },
  'a rotation seen after the previous leaf was overdue (late, restored) is news': {
    previous: certs(6_000, [leaf('a', 0)]),
    next: certs(6_500, [leaf('b', 6_200)]),
    news: true,
  },
  'an SVID rotation seen after the previous one was overdue is news': {
    previous: svid(5_900, leaf('a', 0)),
    next: svid(7_000, leaf('b', 6_900)),
    news: true,
  },
  'a rotation seen after the previous leaf expired is news': {
    previous: certs(9_000, [leaf('a', 0)]),
    next: certs(11_000, [leaf('b', 10_500)]),
    news: true,
  },
  'a new leaf that is already overdue itself (a short-lived one) is news': {
    previous: certs(3_000, [leaf('a', 0)]),
    next: certs(3_500, [{ ...leaf('b', 0), expiresAtMs: 4_000 }]),
    news: true,
  },
  'going back to an older leaf is news': { previous: certs(4_000, [leaf('b', 3_000)]), next: certs(5_000, [leaf('a', 0)]), news: true },
  'a new leaf with another SPIFFE ID is news': {
    previous: certs(4_000, [leaf('a', 0)]),
    next: certs(5_500, [leaf('b', 5_000, 'spiffe://example.org/ns/shop/sa/other')]),
    news: true,
  },
  'a rotation that also changes the CA set is news': {
    previous: certs(4_000, [leaf('a', 0)]),
    next: certs(5_500, [leaf('b', 5_000)], [ca('c1'), ca('c2')]),
    news: true,
  },
  'a rotation that also changes the intermediates is news': {
    previous: certs(4_000, [leaf('a', 0), ca('i1')]),
    next: certs(5_500, [leaf('b', 5_000), ca('i2')]),
    news: true,
  },
  'Envoy serving no certificate any more is news': { previous: certs(4_000, [leaf('a', 0)]), next: certs(5_000, []), news: true },
  'Envoy serving a certificate again after none is news': {
    previous: certs(4_000, []),
    next: certs(5_000, [leaf('b', 4_500)]),
    news: true,
  },
  'the agent no longer listing an SVID is news': { previous: svid(4_000, leaf('a', 0)), next: svid(5_000, null), news: true },
  'the agent listing an SVID again is news': { previous: svid(4_000, null), next: svid(5_000, leaf('b', 4_500)), news: true },
  'an SVID reported by another node agent is news': {
    previous: svid(4_000, leaf('a', 0)),
    next: svid(5_200, leaf('b', 5_000), 'node-1'),
    news: true,
  },
  'a probe failing is news': { previous: certs(4_000, [leaf('a', 0)]), next: error(5_000, 'ECONNREFUSED'), news: true },
  'a probe failing differently is news': { previous: error(4_000, 'ECONNREFUSED'), next: error(5_000, 'HTTP 500'), news: true },
  'a probe failing the same way again is not news': {
    previous: error(4_000, 'ECONNREFUSED'),
    next: error(5_000, 'ECONNREFUSED'),
    news: false,
  },
  'a probe recovering with a fresh leaf is news': {
    previous: error(4_000, 'ECONNREFUSED'),
    next: certs(5_500, [leaf('b', 5_000)]),
    news: true,
  },
  'a delegated stream recovering is news': {
    previous: error(4_000, 'stream closed', 'spire.delegated.svid'),
    next: svid(5_200, leaf('b', 5_000)),
    news: true,
  },
  "an agent's own SVID changing is news": { previous: agent(4_000, 100_000), next: agent(5_000, 200_000), news: true },
  'an SDS failure counter moving is news': { previous: stats(4_000, 0), next: stats(5_000, 1), news: true },
  'SDS success counters moving alone is not news': { previous: stats(4_000, 0), next: stats(5_000, 0), news: false },
};

describe('isNews: what the audit log records', () => {
  for (const [sentence, c] of Object.entries(cases)) {
    it(sentence, () => {
      assert.equal(isNews(c.previous, c.next, policy), c.news);
    });
  }
});

// A 10 s leaf issued at 0 should have rotated by 6 s (half-life plus 1 s grace).
const missedCases: Record<string, { previous: Observation | null; next: Observation; missed: boolean }> = {
  'Envoy still serving the same leaf past its rotation point, first seen so: a rotation missed': {
    previous: certs(5_000, [leaf('a', 0)]),
    next: certs(6_500, [leaf('a', 0)]),
    missed: true,
  },
  'the agent still holding the same SVID past its rotation point, first seen so: a rotation missed': {
    previous: svid(4_000, leaf('a', 0)),
    next: svid(6_100, leaf('a', 0)),
    missed: true,
  },
  'the same overdue leaf seen again: not news twice': {
    previous: certs(6_500, [leaf('a', 0)]),
    next: certs(7_500, [leaf('a', 0)]),
    missed: false,
  },
  'the same leaf still inside its window: state': {
    previous: certs(2_000, [leaf('a', 0)]),
    next: certs(5_500, [leaf('a', 0)]),
    missed: false,
  },
  'a different leaf is a change, judged by isNews instead': {
    previous: certs(5_000, [leaf('a', 0)]),
    next: certs(6_500, [leaf('b', 0)]),
    missed: false,
  },
  'no previous observation: nothing was missed yet': { previous: null, next: certs(6_500, [leaf('a', 0)]), missed: false },
};

describe('rotationMissed: an unchanged state that is news', () => {
  for (const [sentence, c] of Object.entries(missedCases)) {
    it(sentence, () => {
      assert.equal(rotationMissed(c.previous, c.next, policy), c.missed);
    });
  }
});
