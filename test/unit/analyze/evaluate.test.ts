import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { evaluate } from '../../../src/analyze/evaluate.js';
import { defaultAnalyzeThresholds, type AnalysisInput, type AnalyzeConfig } from '../../../src/analyze/analysis-input.js';
import type { Incident } from '../../../src/knowledge/model/incident.js';
import { agentDebugObservation, cert, certsObservation, errorObservation, observationMap, workload } from '../../builders/observations.js';

const config: AnalyzeConfig = {
  ...defaultAnalyzeThresholds,
  rotation: { rotateAtFraction: 0.5, graceMs: 1_000 },
  staleAfterMs: 3_000,
  healthyForMs: 0,
};
const T0 = 1_800_000_000_000;
const TTL = 8_000;
const w = workload('shop/web-1');

function input(over: Partial<AnalysisInput>): AnalysisInput {
  return { now: T0, workloads: [w], observations: new Map(), openIncidents: [], config, ...over };
}

function openIncident(evidenceAt: number): Incident {
  return {
    id: 'rotation_failed--shop_web-1--x',
    type: 'rotation_failed',
    subject: w.id,
    status: 'open',
    openedAt: evidenceAt,
    resolvedAt: null,
    explanation: 'x',
    evidence: [certsObservation(w.id, evidenceAt, cert('aa', T0 - 6_000, TTL))],
    history: [],
  };
}

describe('evaluate: rotation_failed at Envoy', () => {
  const cases: Record<string, { obs: ReturnType<typeof certsObservation> | null; now: number; wantOpen: number }> = {
    'a cert within its first half-life opens nothing': {
      obs: certsObservation(w.id, T0, cert('aa', T0 - 3_000, TTL)),
      now: T0,
      wantOpen: 0,
    },
    'a cert past half-life but within grace opens nothing': {
      obs: certsObservation(w.id, T0, cert('aa', T0 - 4_500, TTL)),
      now: T0,
      wantOpen: 0,
    },
    'a cert past half-life plus grace opens one incident': {
      obs: certsObservation(w.id, T0, cert('aa', T0 - 5_500, TTL)),
      now: T0,
      wantOpen: 1,
    },
    'an expired cert opens one incident': { obs: certsObservation(w.id, T0, cert('aa', T0 - 9_000, TTL)), now: T0, wantOpen: 1 },
    'stale evidence of an overdue cert opens nothing': {
      obs: certsObservation(w.id, T0 - 4_000, cert('aa', T0 - 12_000, TTL)),
      now: T0,
      wantOpen: 0,
    },
    'a probe error opens nothing': { obs: errorObservation(w.id, T0, 'HTTP 503'), now: T0, wantOpen: 0 },
  };
  for (const [name, c] of Object.entries(cases)) {
    it(name, () => {
      const d = evaluate(input({ now: c.now, observations: c.obs === null ? new Map() : observationMap(c.obs) }));
      assert.equal(d.open.length, c.wantOpen);
      const inc = d.open.at(0);
      if (c.wantOpen === 1) {
        assert.ok(inc);
        assert.equal(inc.type, 'rotation_failed');
        assert.equal(inc.subject, w.id);
        assert.match(inc.explanation, /serial aa/);
        assert.match(inc.explanation, /8s TTL/);
      }
    });
  }

  it('an empty cert_chain is no rotation failure: it is a listener without a certificate (mtls_errors)', () => {
    const d = evaluate(input({ observations: observationMap(certsObservation(w.id, T0, null)) }));
    assert.deepEqual(
      d.open.map((i) => i.type),
      ['mtls_errors'],
    );
    assert.match(d.open[0]?.explanation ?? '', /serves no certificate/);
  });

  it('the explanation names serial, issue time, deadline and the Envoy', () => {
    const leaf = cert('deadbeef', T0 - 6_000, TTL);
    const [inc] = evaluate(input({ observations: observationMap(certsObservation(w.id, T0, leaf)) })).open;
    assert.ok(inc);
    assert.match(inc.explanation, /serial deadbeef/);
    assert.match(inc.explanation, new RegExp(new Date(T0 - 6_000).toISOString().replace(/\./g, '\\.')));
    assert.match(
      inc.explanation,
      new RegExp(`should have rotated by ${new Date(T0 - 6_000 + 4_000 + 1_000).toISOString().replace(/\./g, '\\.')}`),
    );
    assert.match(inc.explanation, /127\.0\.0\.1:9901/);
  });

  it('an existing open incident is not opened twice', () => {
    const obs = certsObservation(w.id, T0, cert('aa', T0 - 6_000, TTL));
    const d = evaluate(input({ observations: observationMap(obs), openIncidents: [openIncident(T0 - 1_000)] }));
    assert.equal(d.open.length, 0);
    assert.equal(d.refresh.length, 1);
  });

  it('resolves when fresh evidence newer than the incident shows a current cert', () => {
    const obs = certsObservation(w.id, T0, cert('bb', T0 - 1_000, TTL));
    const d = evaluate(input({ observations: observationMap(obs), openIncidents: [openIncident(T0 - 1_000)] }));
    assert.equal(d.resolve.length, 1);
    assert.match(d.resolve[0]?.reason ?? '', /serial bb \(was aa\)/);
  });

  it('does not resolve on a probe error or stale evidence (absence of evidence is not recovery)', () => {
    for (const obs of [errorObservation(w.id, T0, 'HTTP 503'), certsObservation(w.id, T0 - 5_000, cert('bb', T0 - 6_000, TTL))]) {
      const d = evaluate(input({ observations: observationMap(obs), openIncidents: [openIncident(T0 - 6_000)] }));
      assert.equal(d.resolve.length, 0);
    }
  });

  it('resolves when the workload left the inventory', () => {
    const d = evaluate(input({ workloads: [], openIncidents: [openIncident(T0 - 1_000)] }));
    assert.equal(d.resolve.length, 1);
    assert.match(d.resolve[0]?.reason ?? '', /no longer in the inventory/);
  });
});

describe('evaluate: symptoms left behind by a recovering agent', () => {
  const onNode = { ...w, node: 'node-1' };
  const overdue = observationMap(certsObservation(w.id, T0, cert('aa', T0 - 6_000, TTL)));
  const agentIncident = (over: Partial<Incident>): Incident => ({
    id: 'agent_disconnected--agent_node-1--x',
    type: 'agent_disconnected',
    subject: 'agent:node-1',
    status: 'open',
    openedAt: T0 - 10_000,
    resolvedAt: null,
    explanation: 'x',
    evidence: [],
    history: [],
    ...over,
  });
  const settleMs = config.healthyForMs + config.rotation.graceMs;

  it('opens no workload incident while the node agent incident is open (recovering included)', () => {
    const d = evaluate(
      input({ workloads: [onNode], observations: overdue, openIncidents: [agentIncident({ recoveringSince: T0 - 500 })] }),
    );
    assert.deepEqual(d.open, []);
  });

  it('opens none within the settle time after the agent incident resolved, and opens it after', () => {
    const resolvedJustNow = agentIncident({ status: 'resolved', resolvedAt: T0 - settleMs + 1 });
    assert.deepEqual(evaluate(input({ workloads: [onNode], observations: overdue, recentlyResolved: [resolvedJustNow] })).open, []);
    const resolvedLongAgo = agentIncident({ status: 'resolved', resolvedAt: T0 - settleMs });
    assert.deepEqual(
      evaluate(input({ workloads: [onNode], observations: overdue, recentlyResolved: [resolvedLongAgo] })).open.map((i) => i.type),
      ['rotation_failed'],
    );
  });

  it('an agent incident on another node holds nothing back', () => {
    const other = agentIncident({ subject: 'agent:node-2' });
    assert.deepEqual(
      evaluate(input({ workloads: [onNode], observations: overdue, openIncidents: [other] })).open.map((i) => i.type),
      ['rotation_failed'],
    );
  });
});

describe('evaluate: a workload symptom while its agent is not freshly observed', () => {
  const onNode = { ...w, node: 'node-1' };
  const overdue = certsObservation(w.id, T0, cert('aa', T0 - 6_000, TTL));
  const agentDebug = (observedAt: number) => agentDebugObservation('node-1', observedAt, { lastSyncMs: observedAt - 500 });

  it('waits for a fresh agent read before opening, then opens when the agent is fine', () => {
    const stale = evaluate(input({ workloads: [onNode], observations: observationMap(overdue, agentDebug(T0 - config.staleAfterMs - 1)) }));
    assert.deepEqual(stale.open, []);
    const fresh = evaluate(input({ workloads: [onNode], observations: observationMap(overdue, agentDebug(T0)) }));
    assert.deepEqual(
      fresh.open.map((i) => i.type),
      ['rotation_failed'],
    );
  });

  it('an unmonitored agent (no Debug read at all) holds nothing back', () => {
    assert.deepEqual(
      evaluate(input({ workloads: [onNode], observations: observationMap(overdue) })).open.map((i) => i.type),
      ['rotation_failed'],
    );
  });
});
