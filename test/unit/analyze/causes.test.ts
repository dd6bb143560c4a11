/**
 * Every incident carries a diagnosed cause, so plan can pick the first step from the diagnosis:
 * one representative input per cause in the vocabulary (each detector path), correlation keeps
 * the owner's cause, and the refresh decision carries the finding's (possibly new) cause.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { defaultAnalyzeThresholds, type AnalysisInput, type AnalyzeConfig } from '../../../src/analyze/analysis-input.js';
import { detectors, evaluate } from '../../../src/analyze/evaluate.js';
import { INCIDENT_CAUSES, makeIncidentId, type Incident, type IncidentCause } from '../../../src/knowledge/model/incident.js';
import type { Observation } from '../../../src/knowledge/model/observation.js';
import type { Workload } from '../../../src/knowledge/model/workload.js';
import {
  agentBundleObservation,
  agentDebugObservation,
  agentHealthObservation,
  agentUnreachableObservation,
  cert,
  cloudRunServiceObservation,
  configMapBundleObservation,
  delegatedSvidObservation,
  envoyCertsObservation,
  envoyStatsObservation,
  observationMap,
  serverAgentObservation,
  serverBundleObservation,
  secretBundleObservation,
  serverUnreachableObservation,
  workload,
} from '../../builders/observations.js';
import { CAUSES_OF, causeFits } from './cause-groups.js';

const T0 = 1_800_000_000_000;
const TTL = 60_000;
const config: AnalyzeConfig = {
  ...defaultAnalyzeThresholds,
  rotation: { rotateAtFraction: 0.5, graceMs: 1_000 },
  staleAfterMs: 3_000,
  agentSyncStaleMs: 10_000,
  agentDownForMs: 5_000,
  bundleDriftGraceMs: 20_000,
  mtlsWindowMs: 30_000,
  cloudRunNotReadyForMs: 5_000,
  healthyForMs: 0,
};
const input = (workloads: readonly Workload[], ...obs: Observation[]): AnalysisInput => ({
  now: T0,
  workloads,
  observations: observationMap(...obs),
  openIncidents: [],
  config,
});

const web = workload('shop/web-0', { node: 'n1' });
const web9 = workload('shop/web-9', { node: 'n1' });
const api = workload('shop/api-0', { node: 'n2' });
const overdue = cert('0a', T0 - 40_000, TTL);
const current = cert('0b', T0 - 1_000, TTL);
/** An agent on n1 read now, synced a second ago: healthy, and read after any rotation deadline. */
const healthyAgent = agentDebugObservation('n1', T0, { lastSyncMs: T0 - 1_000 });

/** A rotation_failed incident that resolved at `at` (for flapping). */
const resolvedRotation = (at: number): Incident => ({
  id: makeIncidentId('rotation_failed', web.id, at - 1_000),
  type: 'rotation_failed',
  subject: web.id,
  status: 'resolved',
  openedAt: at - 1_000,
  resolvedAt: at,
  explanation: 'x',
  evidence: [],
  history: [],
  cause: 'envoy_sds_stuck',
});

interface Case {
  readonly input: AnalysisInput;
  /** "<type> <subject>" of the incident whose cause is asserted. */
  readonly incident: string;
  readonly cause: IncidentCause;
}

const cases: Record<string, Case> = {
  // rotation_failed
  'Envoy serves an overdue SVID while its agent holds a current one: envoy_sds_stuck': {
    input: input([web], healthyAgent, envoyCertsObservation(web.id, T0, overdue), delegatedSvidObservation(web.id, T0, 'n1', current)),
    incident: 'rotation_failed shop/web-0',
    cause: 'envoy_sds_stuck',
  },
  "Envoy serves an overdue SVID and the agent's copy is not observed: envoy_sds_stuck": {
    input: input([workload('shop/web-0')], envoyCertsObservation(web.id, T0, overdue)),
    incident: 'rotation_failed shop/web-0',
    cause: 'envoy_sds_stuck',
  },
  'Envoy rejects more than two SDS updates of its SVID: envoy_update_rejected': {
    input: input(
      [web],
      healthyAgent,
      envoyCertsObservation(web.id, T0, current),
      envoyStatsObservation(web.id, T0, T0 - 1_000, { updateRejected: 3 }),
    ),
    incident: 'rotation_failed shop/web-0',
    cause: 'envoy_update_rejected',
  },
  'key rotation failures count as rejected updates: envoy_update_rejected': {
    input: input([web], healthyAgent, envoyStatsObservation(web.id, T0, T0 - 1_000, { keyRotationFailed: 3 })),
    incident: 'rotation_failed shop/web-0',
    cause: 'envoy_update_rejected',
  },
  'the agent itself holds the overdue SVID, confirmed by a subscription opened after the rotation point: agent_not_rotating': {
    input: input([web], healthyAgent, delegatedSvidObservation(web.id, T0, 'n1', overdue, T0 - 100)),
    incident: 'rotation_failed shop/web-0',
    cause: 'agent_not_rotating',
  },
  'the agent and Envoy both hold the overdue SVID: agent_not_rotating (restarting Envoy cannot help)': {
    input: input([web], healthyAgent, envoyCertsObservation(web.id, T0, overdue), delegatedSvidObservation(web.id, T0, 'n1', overdue)),
    incident: 'rotation_failed shop/web-0',
    cause: 'agent_not_rotating',
  },
  // agent_disconnected
  "the agent's admin socket has been unreachable for agentDownFor: agent_unreachable": {
    input: input([web], agentUnreachableObservation('n1', T0, T0 - 6_000)),
    incident: 'agent_disconnected agent:n1',
    cause: 'agent_unreachable',
  },
  "the agent's last sync is older than the limit: agent_sync_stale": {
    input: input([web], agentDebugObservation('n1', T0, { lastSyncMs: T0 - 11_000 })),
    incident: 'agent_disconnected agent:n1',
    cause: 'agent_sync_stale',
  },
  'the agent never synced: agent_sync_stale': {
    input: input([web], agentDebugObservation('n1', T0, { lastSyncMs: 0 })),
    incident: 'agent_disconnected agent:n1',
    cause: 'agent_sync_stale',
  },
  'the agent holds an expired agent SVID: agent_svid_expired': {
    input: input([web], agentDebugObservation('n1', T0, { lastSyncMs: T0 - 1_000, svidExpiresAtMs: T0 - 1 })),
    incident: 'agent_disconnected agent:n1',
    cause: 'agent_svid_expired',
  },
  'the server has banned the agent: agent_cannot_reattest': {
    input: input([web], healthyAgent, serverAgentObservation('n1', T0, { banned: true, svidExpiresAtMs: T0 + 60_000 })),
    incident: 'agent_disconnected agent:n1',
    cause: 'agent_cannot_reattest',
  },
  "the agent's SVID expired and it may not re-attest: agent_cannot_reattest": {
    input: input([web], serverAgentObservation('n1', T0, { canReattest: false, svidExpiresAtMs: T0 - 1 })),
    incident: 'agent_disconnected agent:n1',
    cause: 'agent_cannot_reattest',
  },
  "the agent's /ready has failed for agentDownFor: agent_not_ready": {
    input: input([web], healthyAgent, agentHealthObservation('n1', T0, T0 - 6_000, false)),
    incident: 'agent_disconnected agent:n1',
    cause: 'agent_not_ready',
  },
  'without a Debug reading, the Envoys on the node keep failing their SDS fetches: agent_sds_failing': {
    input: input(
      [web, web9],
      envoyStatsObservation(web.id, T0, T0 - 500, { updateFailure: 4 }),
      envoyStatsObservation(web9.id, T0, T0 - 800, { updateFailure: 4 }),
    ),
    incident: 'agent_disconnected agent:n1',
    cause: 'agent_sds_failing',
  },
  // trust_bundle_drift
  "the trust-bundle ConfigMap lacks the server's CA: configmap_bundle_stale": {
    input: input([], serverBundleObservation(T0, T0 - 30_000, ['a', 'b']), configMapBundleObservation(T0, ['a'])),
    incident: 'trust_bundle_drift configmap:spire/spire-bundle',
    cause: 'configmap_bundle_stale',
  },
  "the Cloud Run CA-bundle secret lacks the server's CA: secret_bundle_stale": {
    input: input([], serverBundleObservation(T0, T0 - 30_000, ['a', 'b']), secretBundleObservation(T0, ['a'])),
    incident: 'trust_bundle_drift secret:projects/acme/secrets/spire-bundle',
    cause: 'secret_bundle_stale',
  },
  'an agent distributes a stale bundle: agent_bundle_stale': {
    input: input([], serverBundleObservation(T0, T0 - 30_000, ['a', 'b']), agentBundleObservation('n1', T0, ['a'])),
    incident: 'trust_bundle_drift agent:n1',
    cause: 'agent_bundle_stale',
  },
  'one Envoy validates with a stale CA set: envoy_bundle_stale': {
    input: input(
      [web, api],
      serverBundleObservation(T0, T0 - 30_000, ['a', 'b']),
      envoyCertsObservation(web.id, T0, current, ['a']),
      envoyCertsObservation(api.id, T0, current, ['a', 'b']),
    ),
    incident: 'trust_bundle_drift shop/web-0',
    cause: 'envoy_bundle_stale',
  },
  'most Envoys of the trust domain validate with a stale CA set: trust_domain_bundle_stale': {
    input: (() => {
      const ws = Array.from({ length: 5 }, (_, i) => workload(`shop/web-${i}`, { node: 'n1' }));
      return input(
        ws,
        healthyAgent,
        serverBundleObservation(T0, T0 - 30_000, ['a', 'b']),
        ...ws.map((w, i) => envoyCertsObservation(w.id, T0, current, i < 4 ? ['a'] : ['a', 'b'])),
      );
    })(),
    incident: 'trust_bundle_drift trust-domain:example.org',
    cause: 'trust_domain_bundle_stale',
  },
  // mtls_errors
  'Envoy serves an empty cert_chain (no stats read): no_certificate': {
    input: input([web], envoyCertsObservation(web.id, T0, null)),
    incident: 'mtls_errors shop/web-0',
    cause: 'no_certificate',
  },
  'connections reset as secrets_not_ready: no_certificate': {
    input: input([web], envoyStatsObservation(web.id, T0, T0 - 1_000, { secretsNotReady: 4 })),
    incident: 'mtls_errors shop/web-0',
    cause: 'no_certificate',
  },
  'no certificate and handshake failures: the missing certificate is the cause (no_certificate)': {
    input: input(
      [web],
      envoyCertsObservation(web.id, T0, null),
      envoyStatsObservation(web.id, T0, T0 - 1_000, { handshake: 10, connectionError: 10, secretsNotReady: 2 }),
    ),
    incident: 'mtls_errors shop/web-0',
    cause: 'no_certificate',
  },
  'rising TLS failures above the ratio: handshake_failures': {
    input: input([web], envoyStatsObservation(web.id, T0, T0 - 1_000, { handshake: 100, connectionError: 5 })),
    incident: 'mtls_errors shop/web-0',
    cause: 'handshake_failures',
  },
  // cloudrun_revision_not_ready
  'a Cloud Run service not ready for longer than the limit: revision_not_ready': {
    input: input([], cloudRunServiceObservation('p/l/pay', T0, T0 - 6_000, false)),
    incident: 'cloudrun_revision_not_ready p/l/pay',
    cause: 'revision_not_ready',
  },
  // flapping
  'a symptom that resolved flapMaxCycles times comes back: symptom_flapping': {
    input: {
      ...input([workload('shop/web-0')], envoyCertsObservation(web.id, T0, overdue)),
      recentlyResolved: [resolvedRotation(T0 - 300_000), resolvedRotation(T0 - 200_000), resolvedRotation(T0 - 100_000)],
    },
    incident: 'flapping shop/web-0',
    cause: 'symptom_flapping',
  },
  // fleet_storm
  'the SPIRE server has been unreachable for agentDownFor: server_unreachable': {
    input: input([web], serverUnreachableObservation(T0, T0 - 6_000)),
    incident: 'fleet_storm fleet',
    cause: 'server_unreachable',
  },
  'more than half the fleet shows symptoms at once: widespread_failure': {
    input: (() => {
      const ws = Array.from({ length: 24 }, (_, i) => workload(`shop/web-${i}`, { node: `n${i}` }));
      return input(ws, ...ws.slice(0, 13).map((w) => envoyCertsObservation(w.id, T0, overdue)));
    })(),
    incident: 'fleet_storm fleet',
    cause: 'widespread_failure',
  },
};

describe('diagnosed cause, one representative input per detector path', () => {
  for (const [name, c] of Object.entries(cases)) {
    it(name, () => {
      const d = evaluate(c.input);
      const inc = d.open.find((i) => `${i.type} ${i.subject}` === c.incident);
      assert.ok(inc, `${c.incident} not opened; opened: ${d.open.map((i) => `${i.type} ${i.subject}`).join(', ') || 'nothing'}`);
      assert.equal(inc.cause, c.cause);
      // Every incident this input opens (children of a storm, too) carries a cause of its own type.
      for (const i of d.open) assert.ok(causeFits(i.type, i.cause), `${i.type} ${i.subject} opened with cause ${i.cause ?? '(none)'}`);
    });
  }

  it('the table covers every cause in the vocabulary', () => {
    const covered = new Set(Object.values(cases).map((c) => c.cause));
    assert.deepEqual(
      INCIDENT_CAUSES.filter((c) => !covered.has(c)),
      [],
    );
    assert.deepEqual([...INCIDENT_CAUSES].sort(), Object.values(CAUSES_OF).flat().sort(), 'CAUSES_OF groups the whole vocabulary');
  });

  it('each detector sets the cause on its findings, before correlation', () => {
    for (const [name, c] of Object.entries(cases)) {
      for (const d of detectors) {
        for (const f of d.detect(c.input))
          assert.ok(causeFits(f.type, f.cause), `${name}: ${d.type} finding on ${f.subject} has cause ${f.cause ?? '(none)'}`);
      }
    }
  });
});

describe("correlation keeps the owner's cause", () => {
  it('an agent that lost its server keeps agent_sync_stale while it absorbs the rotation failures behind it', () => {
    const ws = [web, web9];
    const d = evaluate(
      input(ws, agentDebugObservation('n1', T0, { lastSyncMs: T0 - 30_000 }), ...ws.map((w) => envoyCertsObservation(w.id, T0, overdue))),
    );
    assert.deepEqual(
      d.open.map((i) => [`${i.type} ${i.subject}`, i.cause, i.affects]),
      [['agent_disconnected agent:n1', 'agent_sync_stale', ['shop/web-0', 'shop/web-9']]],
    );
  });

  it("an agent distributing a stale bundle keeps agent_bundle_stale while it owns its Envoys' drift", () => {
    const d = evaluate(
      input(
        [web, api],
        serverBundleObservation(T0, T0 - 30_000, ['a', 'b']),
        agentBundleObservation('n1', T0, ['a']),
        envoyCertsObservation(web.id, T0, current, ['a']),
        envoyCertsObservation(api.id, T0, current, ['a', 'b']),
      ),
    );
    assert.deepEqual(
      d.open.map((i) => [`${i.type} ${i.subject}`, i.cause, i.affects]),
      [['trust_bundle_drift agent:n1', 'agent_bundle_stale', ['shop/web-0']]],
    );
  });

  it('an Envoy whose own bundle drifted keeps envoy_bundle_stale while it owns its mTLS errors', () => {
    const d = evaluate(
      input(
        [web, api],
        serverBundleObservation(T0, T0 - 30_000, ['a', 'b']),
        envoyCertsObservation(web.id, T0, current, ['a']),
        envoyCertsObservation(api.id, T0, current, ['a', 'b']),
        envoyStatsObservation(web.id, T0, T0 - 500, { handshake: 10, connectionError: 10 }),
      ),
    );
    assert.deepEqual(
      d.open.map((i) => [`${i.type} ${i.subject}`, i.cause]),
      [['trust_bundle_drift shop/web-0', 'envoy_bundle_stale']],
    );
  });
});

describe('refreshing an open incident', () => {
  it("the refresh decision carries the finding's new cause when the diagnosis changed", () => {
    const earlier = envoyCertsObservation(web.id, T0 - 2_000, overdue);
    const open: Incident = {
      id: makeIncidentId('rotation_failed', web.id, T0 - 2_000),
      type: 'rotation_failed',
      subject: web.id,
      status: 'open',
      openedAt: T0 - 2_000,
      resolvedAt: null,
      explanation: 'x',
      evidence: [earlier],
      history: [],
      cause: 'envoy_sds_stuck',
    };
    // Now the agent's Delegated Identity copy is overdue too: the agent is not rotating.
    const d = evaluate({
      ...input([web], healthyAgent, envoyCertsObservation(web.id, T0, overdue), delegatedSvidObservation(web.id, T0, 'n1', overdue)),
      openIncidents: [open],
    });
    assert.deepEqual(d.open, []);
    assert.equal(d.refresh.length, 1);
    assert.equal(d.refresh[0]?.finding.cause, 'agent_not_rotating');
  });
});
