import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { defaultAnalyzeThresholds, type AnalysisInput } from '../../../src/analyze/analysis-input.js';
import { evaluate } from '../../../src/analyze/evaluate.js';
import { stepSymptom } from '../../../src/analyze/symptom-lifecycle.machine.js';
import type { Incident } from '../../../src/knowledge/model/incident.js';
import { cert, certsObservation, observationMap, workload } from '../../builders/observations.js';

const T0 = 1_800_000_000_000;
const TTL = 8_000;
const w = workload('shop/web-1');
const config = {
  ...defaultAnalyzeThresholds,
  rotation: { rotateAtFraction: 0.5, graceMs: 1_000 },
  staleAfterMs: 3_000,
  healthyForMs: 5_000,
  flapMaxCycles: 3,
  flapWindowMs: 60_000,
};
const overdue = (at: number) => certsObservation(w.id, at, cert('aa', at - 6_000, TTL));
const healthy = (at: number) => certsObservation(w.id, at, cert('bb', at - 1_000, TTL));
const run = (now: number, obs: ReturnType<typeof certsObservation>, open: Incident[] = [], resolved: Incident[] = []) =>
  evaluate({
    now,
    workloads: [w],
    observations: observationMap(obs),
    openIncidents: open,
    recentlyResolved: resolved,
    config,
  } satisfies AnalysisInput);

describe('symptom lifecycle: hysteresis and flapping', () => {
  it('the reducer: open → recovering → resolved only after the healthy delay; a relapse goes back to open', () => {
    assert.deepEqual(stepSymptom(null, 5_000, { type: 'recovery', at: 100 }), { state: 'recovering', recoveringSince: 100 });
    assert.deepEqual(stepSymptom(100, 5_000, { type: 'recovery', at: 4_000 }), { state: 'recovering', recoveringSince: 100 });
    assert.equal(stepSymptom(100, 5_000, { type: 'recovery', at: 5_100 }).state, 'resolved');
    assert.deepEqual(stepSymptom(100, 5_000, { type: 'finding', at: 2_000 }), { state: 'open', recoveringSince: null });
    assert.deepEqual(stepSymptom(100, 5_000, { type: 'no_evidence', at: 9_000 }), { state: 'recovering', recoveringSince: 100 });
    assert.equal(stepSymptom(null, 0, { type: 'recovery', at: 1 }).state, 'resolved', 'no healthy delay: resolve at once');
  });

  it('an incident recovers first, relapses into the same incident, and resolves after healthy for the delay', () => {
    const [inc] = run(T0, overdue(T0)).open;
    assert.ok(inc);
    const r1 = run(T0 + 1_000, healthy(T0 + 1_000), [inc]);
    assert.deepEqual([r1.resolve.length, r1.recovering[0]?.since], [0, T0 + 1_000]);
    const recovering: Incident = { ...inc, recoveringSince: T0 + 1_000 };
    const back = run(T0 + 2_000, overdue(T0 + 2_000), [recovering]);
    assert.deepEqual([back.open.length, back.recovering[0]?.since], [0, null], 'relapse: no new incident, back to open');
    assert.equal(run(T0 + 4_000, healthy(T0 + 4_000), [recovering]).resolve.length, 0, 'healthy for 3 s only');
    const done = run(T0 + 6_500, healthy(T0 + 6_500), [recovering]).resolve;
    assert.equal(done.length, 1);
    assert.match(done[0]?.reason ?? '', /now serves SVID serial bb .* \(healthy for 6s\)/);
  });

  it('a symptom that resolved flapMaxCycles times within the window opens one flapping incident instead', () => {
    const past = (k: number): Incident => ({
      id: `rotation_failed--x--${k}`,
      type: 'rotation_failed',
      subject: w.id,
      status: 'resolved',
      openedAt: T0 - 30_000 + k * 5_000,
      resolvedAt: T0 - 28_000 + k * 5_000,
      explanation: '',
      evidence: [],
      history: [],
    });
    const d = run(T0, overdue(T0), [], [past(0), past(1), past(2)]);
    assert.deepEqual(
      d.open.map((i) => `${i.type} ${i.subject} ${i.flappingType ?? ''}`),
      [`flapping ${w.id} rotation_failed`],
    );
    assert.match(d.open[0]?.explanation ?? '', /came back after resolving 3 times within 1m0s/);
    assert.equal(run(T0, overdue(T0), [], [past(0), past(1)]).open[0]?.type, 'rotation_failed', 'two cycles are not flapping yet');
  });

  it('flapping input yields a bounded number of incidents (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.boolean(), { minLength: 1, maxLength: 120 }), (pattern) => {
        // Simulate passes one second apart, applying decisions the way run-analysis does.
        let open: Incident[] = [];
        const resolved: Incident[] = [];
        let opened = 0;
        pattern.forEach((bad, i) => {
          const now = T0 + i * 1_000;
          const d = run(now, bad ? overdue(now) : healthy(now), open, resolved);
          opened += d.open.length;
          for (const r of d.recovering) open = open.map((x) => (x.id === r.incident.id ? { ...x, recoveringSince: r.since } : x));
          for (const r of d.resolve) {
            open = open.filter((x) => x.id !== r.incident.id);
            resolved.push({ ...r.incident, status: 'resolved', resolvedAt: now });
          }
          open = [...open, ...d.open];
        });
        // Per 60 s window at most flapMaxCycles real incidents plus one flapping report can open.
        const windows = Math.ceil(pattern.length / 60) + 1;
        assert.ok(opened <= windows * (config.flapMaxCycles + 1), `${opened} incidents from ${pattern.length} passes`);
      }),
      { numRuns: 300 },
    );
  });
});
