import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { defaultAnalyzeThresholds, type AnalysisInput } from '../../../src/analyze/analysis-input.js';
import { evaluate } from '../../../src/analyze/evaluate.js';
import type { Observation } from '../../../src/knowledge/model/observation.js';
import { workload } from '../../builders/observations.js';
import { causeFits } from './cause-groups.js';

const NOW = 1_800_000_000_000;
const STALE = 3_000;
const TTL = 60_000;
const config = {
  ...defaultAnalyzeThresholds,
  rotation: { rotateAtFraction: 0.5, graceMs: 1_000 },
  staleAfterMs: STALE,
  agentSyncStaleMs: 10_000,
  agentDownForMs: 5_000,
  bundleDriftGraceMs: 20_000,
  mtlsWindowMs: 30_000,
  cloudRunNotReadyForMs: 5_000,
};
const workloads = Array.from({ length: 8 }, (_, i) => workload(`shop/w-${i}`, { node: `n${i % 3}` }));

/** An arbitrary observation of one of the workloads or agents, `age` ms before now. */
const observation = fc
  .record({
    w: fc.integer({ min: 0, max: 7 }),
    kind: fc.constantFrom('certs', 'svid', 'stats', 'agent', 'agentDown', 'bundle', 'configmap', 'run'),
    age: fc.integer({ min: 0, max: 120_000 }),
    since: fc.integer({ min: 0, max: 120_000 }),
    issuedAgo: fc.integer({ min: 0, max: 2 * TTL }),
    errors: fc.integer({ min: 0, max: 50 }),
    ca: fc.constantFrom(['a'], ['a', 'b'], ['b'], []),
  })
  .map(({ w, kind, age, since, issuedAgo, errors, ca }): Observation => {
    const id = `shop/w-${w}`;
    const at = NOW - age;
    const stateSince = at - since;
    const leaf = { serialNumber: `s${w}`, uriSans: [], validFromMs: NOW - issuedAgo, expiresAtMs: NOW - issuedAgo + TTL };
    const certs = ca.map((s) => ({ serialNumber: s, uriSans: [], validFromMs: 0, expiresAtMs: NOW + 1e9 }));
    switch (kind) {
      case 'certs':
        return {
          subject: id,
          source: 'envoy.certs',
          observedAt: at,
          stateSince,
          data: { kind: 'envoy.certs', chain: errors % 7 === 0 ? [] : [leaf], caCerts: certs },
        };
      case 'svid':
        return {
          subject: id,
          source: 'spire.delegated.svid',
          observedAt: at,
          stateSince,
          data: { kind: 'spire.svid', node: `n${w % 3}`, svid: leaf },
        };
      case 'stats':
        return {
          subject: id,
          source: 'envoy.stats',
          observedAt: at,
          stateSince,
          data: {
            kind: 'envoy.stats',
            sds: [],
            secretsNotReady: errors % 3,
            serverState: 0,
            ssl: [{ scope: 'l', handshake: 100, connectionError: errors, failVerifyError: errors % 5, failVerifySan: 0, noCertificate: 0 }],
          },
        };
      case 'agent':
        return {
          subject: `agent:n${w % 3}`,
          source: 'spire.agent.debug',
          observedAt: at,
          stateSince,
          data: {
            kind: 'spire.agent',
            node: `n${w % 3}`,
            agentId: 'x',
            lastSyncSuccessMs: at - since,
            agentSvidExpiresAtMs: NOW + TTL,
            cachedX509Svids: 1,
          },
        };
      case 'agentDown':
        return {
          subject: `agent:n${w % 3}`,
          source: 'spire.agent.debug',
          observedAt: at,
          stateSince,
          data: { kind: 'probe.error', probe: 'spire.agent.debug', endpoint: 'unix:///x', error: 'UNAVAILABLE' },
        };
      case 'bundle':
        return {
          subject: 'trust-domain:example.org',
          source: 'spire.server.bundle',
          observedAt: at,
          stateSince,
          data: {
            kind: 'spire.bundle',
            trustDomain: 'example.org',
            sequenceNumber: String(ca.length),
            authorities: certs.map((c) => ({ serialNumber: c.serialNumber, expiresAtMs: c.expiresAtMs })),
            active: 'k',
            prepared: null,
            old: null,
          },
        };
      case 'configmap':
        return {
          subject: 'configmap:spire/spire-bundle',
          source: 'k8s.bundle',
          observedAt: at,
          stateSince,
          data: {
            kind: 'k8s.bundle',
            configMap: 'spire/spire-bundle',
            certificates: certs.map((c) => ({ serialNumber: c.serialNumber, expiresAtMs: c.expiresAtMs })),
            problems: [],
          },
        };
      default:
        return {
          subject: `p/l/run-${w}`,
          source: 'cloudrun.service',
          observedAt: at,
          stateSince,
          data: {
            kind: 'cloudrun.service',
            service: `s${w}`,
            ready: errors % 2 === 0,
            latestCreatedRevision: 'r2',
            latestReadyRevision: 'r1',
            notReady: ['x'],
          },
        };
    }
  });

const inputOf = (obs: readonly Observation[], ws = workloads): AnalysisInput => ({
  now: NOW,
  workloads: ws,
  observations: new Map(obs.map((o) => [`${o.subject}|${o.source}`, o])),
  openIncidents: [],
  config,
});
const opened = (i: AnalysisInput): string[] =>
  evaluate(i)
    .open.map((x) => `${x.type} ${x.subject} ${[...(x.affects ?? [])].join(',')}`)
    .sort();

describe('analysis properties (fast-check)', () => {
  it('evidence older than staleAfter never opens an incident, whatever it says', () => {
    fc.assert(
      fc.property(fc.array(observation, { maxLength: 40 }), (obs) => {
        const stale = obs.map((o) => ({
          ...o,
          observedAt: NOW - STALE - 1 - (NOW - o.observedAt),
          stateSince: Math.min(o.stateSince ?? 0, NOW - STALE - 1),
        }));
        assert.deepEqual(evaluate(inputOf(stale)).open, []);
      }),
      { numRuns: 300 },
    );
  });

  it('findings and correlation do not depend on the order of workloads or observations', () => {
    fc.assert(
      fc.property(fc.array(observation, { maxLength: 40 }), fc.infiniteStream(fc.nat()), (obs, rnd) => {
        // Later observations of the same key win in the map: dedupe first so both orders hold the same set.
        const unique = [...new Map(obs.map((o) => [`${o.subject}|${o.source}`, o])).values()];
        const shuffle = <T>(xs: readonly T[]): T[] =>
          xs
            .map((x) => ({ x, k: rnd.next().value as number }))
            .sort((a, b) => a.k - b.k)
            .map((p) => p.x);
        assert.deepEqual(opened(inputOf(shuffle(unique), shuffle(workloads))), opened(inputOf(unique)));
      }),
      { numRuns: 300 },
    );
  });

  it('every opened incident carries a diagnosed cause of its own type', () => {
    fc.assert(
      fc.property(fc.array(observation, { maxLength: 40 }), (obs) => {
        for (const i of evaluate(inputOf(obs)).open)
          assert.ok(causeFits(i.type, i.cause), `${i.type} on ${i.subject} opened with cause ${i.cause ?? '(none)'}`);
      }),
      { numRuns: 300 },
    );
  });

  it('a workload symptom behind a disconnected agent never opens its own incident', () => {
    fc.assert(
      fc.property(fc.array(observation, { maxLength: 40 }), (obs) => {
        const d = evaluate(inputOf(obs));
        const brokenNodes = new Set(d.open.filter((i) => i.type === 'agent_disconnected').map((i) => i.subject.slice('agent:'.length)));
        for (const i of d.open) {
          const w = workloads.find((x) => x.id === i.subject);
          assert.ok(
            w === undefined || w.node === undefined || !brokenNodes.has(w.node),
            `${i.type} on ${i.subject} opened although its agent is disconnected`,
          );
        }
      }),
      { numRuns: 300 },
    );
  });
});
