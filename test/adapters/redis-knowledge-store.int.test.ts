import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { RedisKnowledgeStore } from '../../src/adapters/redis/redis-knowledge-store.js';
import type { ActionRun } from '../../src/knowledge/model/action-run.js';
import { makeActionRunId } from '../../src/knowledge/model/action-run.js';
import { makeIncidentId, type Incident, type IncidentRemediation } from '../../src/knowledge/model/incident.js';
import type { Observation } from '../../src/knowledge/model/observation.js';
import { cert, certsObservation, errorObservation, workload } from '../builders/observations.js';
import { uniquePrefix, withRedis } from '../support/redis.js';

function candidate(subject: string, openedAt: number, explanation = 'Envoy serves an SVID past its rotation point'): Incident {
  return {
    id: makeIncidentId('rotation_failed', subject, openedAt),
    type: 'rotation_failed',
    subject,
    status: 'open',
    openedAt,
    resolvedAt: null,
    explanation,
    evidence: [certsObservation(subject, openedAt, cert('01', 0, 4_000))],
    history: [],
  };
}

function run(incidentId: string, step: number, attempt: number, state: ActionRun['state']): ActionRun {
  return {
    id: makeActionRunId(incidentId, step, attempt),
    incidentId,
    step,
    attempt,
    action: 'restart_envoy',
    target: 'shop/web-1',
    state,
    enqueuedAt: 1,
    startedAt: state === 'queued' ? null : 2,
    finishedAt: null,
    detail: state,
    performed: false,
  };
}

const remediation: IncidentRemediation = {
  phase: 'remediating',
  playbook: 'restart-envoy',
  step: 0,
  action: 'restart_envoy',
  updatedAt: 5,
  reason: 'r',
};

describe('RedisKnowledgeStore on a real redis-server', () => {
  const redis = withRedis();

  it('opens exactly one incident when 20 replicas race for the same (type, subject)', async () => {
    const a = redis.connect();
    const b = redis.connect();
    const p = uniquePrefix();
    const replicaA = new RedisKnowledgeStore(a, p);
    const replicaB = new RedisKnowledgeStore(b, p);
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? replicaA : replicaB).openIncident(candidate('shop/web-1', 1_000 + (i % 3)))),
    );
    const opened = results.filter((r) => r.opened);
    assert.equal(opened.length, 1);
    const winner = opened[0]?.incident.id;
    assert.ok(
      results.every((r) => r.incident.id === winner),
      'losers get the winner back',
    );
    assert.deepEqual(
      (await replicaA.listIncidents()).map((i) => i.id),
      [winner],
    );
    assert.equal((await replicaB.findOpenIncident('rotation_failed', 'shop/web-1'))?.id, winner);
  });

  it('resolve is idempotent, frees the slot, and a later open is a new incident', async () => {
    const s = new RedisKnowledgeStore(redis.connect(), uniquePrefix());
    const first = await s.openIncident(candidate('shop/web-1', 1_000));
    assert.equal(first.opened, true);
    const resolved = await s.resolveIncident(first.incident.id, 2_000, 'fresh SVID served');
    assert.equal(resolved?.status, 'resolved');
    assert.equal(resolved.resolvedAt, 2_000);
    assert.deepEqual(resolved.history, [{ at: 2_000, from: 'open', to: 'resolved', reason: 'fresh SVID served' }]);
    const again = await s.resolveIncident(first.incident.id, 3_000, 'again');
    assert.deepEqual(again, resolved, 'second resolve changes nothing');
    assert.equal(await s.findOpenIncident('rotation_failed', 'shop/web-1'), null);
    assert.equal(await s.resolveIncident('rotation_failed--nope--1', 1, 'x'), null);

    const second = await s.openIncident(candidate('shop/web-1', 5_000));
    assert.equal(second.opened, true);
    assert.notEqual(second.incident.id, first.incident.id);
    assert.deepEqual(
      (await s.listIncidents()).map((i) => [i.id, i.status]),
      [
        [first.incident.id, 'resolved'],
        [second.incident.id, 'open'],
      ],
    );
    assert.deepEqual(
      (await s.listIncidents({ status: 'open' })).map((i) => i.id),
      [second.incident.id],
    );
    assert.deepEqual(
      (await s.listIncidents({ status: 'resolved' })).map((i) => i.id),
      [first.incident.id],
    );
  });

  it('never overwrites an existing incident id, even a resolved one', async () => {
    const s = new RedisKnowledgeStore(redis.connect(), uniquePrefix());
    const c = candidate('shop/web-1', 1_000);
    await s.openIncident(c);
    await s.resolveIncident(c.id, 2_000, 'gone');
    const res = await s.openIncident(c);
    assert.equal(res.opened, false);
    assert.equal(res.incident.status, 'resolved');
    assert.equal(await s.findOpenIncident('rotation_failed', 'shop/web-1'), null);
  });

  it('keeps detection (analyze) and remediation (plan) apart under concurrent writes', async () => {
    const p = uniquePrefix();
    const analyze = new RedisKnowledgeStore(redis.connect(), p);
    const plan = new RedisKnowledgeStore(redis.connect(), p);
    const { incident } = await analyze.openIncident(candidate('shop/web-2', 1_000));
    await Promise.all([
      ...Array.from({ length: 10 }, (_, i) => analyze.updateIncidentEvidence(incident.id, [], `explanation ${i}`)),
      ...Array.from({ length: 10 }, (_, i) => plan.setRemediation(incident.id, { ...remediation, step: i })),
    ]);
    await plan.setRemediation(incident.id, remediation);
    await analyze.updateIncidentEvidence(incident.id, [], 'final explanation');
    assert.deepEqual(await plan.getRemediation(incident.id), remediation);
    assert.equal((await analyze.getIncident(incident.id))?.explanation, 'final explanation');
    await analyze.resolveIncident(incident.id, 2_000, 'healed');
    assert.deepEqual(await analyze.getRemediation(incident.id), remediation, 'resolve leaves remediation alone');
    await plan.setRemediation(incident.id, { ...remediation, phase: 'done' });
    assert.equal((await analyze.getIncident(incident.id))?.status, 'resolved', 'setRemediation leaves detection alone');
    await analyze.updateIncidentEvidence(incident.id, [], 'too late');
    assert.equal((await analyze.getIncident(incident.id))?.explanation, 'final explanation', 'a resolved incident keeps its evidence');
  });

  it('a resolve racing evidence updates is never lost', async () => {
    const s = new RedisKnowledgeStore(redis.connect(), uniquePrefix());
    const { incident } = await s.openIncident(candidate('shop/web-3', 1_000));
    await Promise.all([
      ...Array.from({ length: 10 }, (_, i) => s.updateIncidentEvidence(incident.id, [], `e${i}`)),
      s.resolveIncident(incident.id, 2_000, 'healed'),
      ...Array.from({ length: 10 }, (_, i) => s.updateIncidentEvidence(incident.id, [], `f${i}`)),
    ]);
    const after = await s.getIncident(incident.id);
    assert.equal(after?.status, 'resolved');
    assert.equal(after.history.length, 1);
  });

  it('records observations: changed on new state, unchanged on same state, stale ones ignored; stateSince marks when a state began', async () => {
    const s = new RedisKnowledgeStore(redis.connect(), uniquePrefix());
    const since = (o: Observation, at: number): Observation => ({ stateSince: at, ...o });
    const o1 = certsObservation('shop/web-1', 1_000, cert('01', 0, 4_000));
    assert.deepEqual(await s.recordObservation(o1), { changed: true, previous: null });
    const o2 = certsObservation('shop/web-1', 2_000, cert('01', 0, 4_000));
    assert.deepEqual(await s.recordObservation(o2), { changed: false, previous: since(o1, 1_000) });
    assert.deepEqual(await s.latestObservation('shop/web-1', 'envoy.certs'), since(o2, 1_000), 'same state: stateSince stays at its start');
    const o3 = certsObservation('shop/web-1', 3_000, cert('02', 2_000, 4_000));
    assert.deepEqual(await s.recordObservation(o3), { changed: true, previous: since(o2, 1_000) });
    const o4 = errorObservation('shop/web-1', 4_000, 'connect ECONNREFUSED');
    assert.deepEqual(await s.recordObservation(o4), { changed: true, previous: since(o3, 3_000) });
    const stale = certsObservation('shop/web-1', 3_500, cert('03', 0, 4_000));
    assert.deepEqual(await s.recordObservation(stale), { changed: false, previous: since(o4, 4_000) });
    assert.deepEqual(await s.latestObservation('shop/web-1', 'envoy.certs'), since(o4, 4_000));
    const o5 = errorObservation('shop/web-1', 9_000, 'connect ECONNREFUSED');
    await s.recordObservation(o5);
    assert.equal((await s.latestObservation('shop/web-1', 'envoy.certs'))?.stateSince, 4_000, 'failing since 4 s');
    assert.equal(await s.latestObservation('shop/web-1', 'envoy.stats'), null);
    const other = certsObservation('shop/web-0', 1_000, null);
    await s.recordObservation(other);
    assert.deepEqual(await s.listLatestObservations(), [since(other, 1_000), since(o5, 4_000)]);
  });

  it('lists action runs by (step, attempt) and never moves a run backwards', async () => {
    const s = new RedisKnowledgeStore(redis.connect(), uniquePrefix());
    const inc = 'rotation_failed--shop_web-1--abc';
    for (const r of [run(inc, 1, 2, 'queued'), run(inc, 0, 1, 'failed'), run(inc, 1, 1, 'succeeded'), run(inc, 0, 2, 'running')])
      await s.putActionRun(r);
    await s.putActionRun(run('other--x--1', 0, 1, 'queued'));
    assert.deepEqual(
      (await s.listActionRuns(inc)).map((r) => [r.step, r.attempt, r.state]),
      [
        [0, 1, 'failed'],
        [0, 2, 'running'],
        [1, 1, 'succeeded'],
        [1, 2, 'queued'],
      ],
    );
    const id = makeActionRunId(inc, 1, 1);
    await s.putActionRun(run(inc, 1, 1, 'queued'));
    assert.equal((await s.getActionRun(id))?.state, 'succeeded', 'a late queued write does not undo the outcome');
    await s.putActionRun(run(inc, 1, 2, 'running'));
    assert.equal((await s.getActionRun(makeActionRunId(inc, 1, 2)))?.state, 'running');
    assert.equal(await s.getActionRun('missing'), null);
    assert.deepEqual(await s.listActionRuns('none'), []);
  });

  it('stores workloads, plan snapshots and the kill switch (default: not paused)', async () => {
    const s = new RedisKnowledgeStore(redis.connect(), uniquePrefix());
    assert.deepEqual(await s.getControl(), { paused: false, reason: '', since: null });
    await s.setControl({ paused: true, reason: 'maintenance', since: 7 });
    assert.deepEqual(await s.getControl(), { paused: true, reason: 'maintenance', since: 7 });
    await s.putWorkload(workload('shop/web-1'));
    await s.putWorkload(workload('shop/web-0'));
    assert.deepEqual(
      (await s.listWorkloads()).map((w) => w.id),
      ['shop/web-0', 'shop/web-1'],
    );
    assert.deepEqual(await s.getWorkload('shop/web-1'), workload('shop/web-1'));
    assert.equal(await s.getWorkload('nope'), null);
    assert.equal(await s.loadPlanSnapshot('i1'), null);
    await s.savePlanSnapshot('i1', { version: 2, snapshot: { value: 'executing', context: { step: 1 } } });
    assert.deepEqual(await s.loadPlanSnapshot('i1'), { version: 2, snapshot: { value: 'executing', context: { step: 1 } } });
    await s.deletePlanSnapshot('i1');
    assert.equal(await s.loadPlanSnapshot('i1'), null);
  });

  it('records a ledger entry once per id, keeping its first time, and drops entries older than a day', async () => {
    const conn = redis.connect();
    const s = new RedisKnowledgeStore(conn, uniquePrefix());
    const T = 1_800_000_000_000;
    const entry = { id: 'job-1', playbook: 'pb', subject: 'shop/web-1', incidentId: 'inc-1' };
    // Every plan pass while the job executes (and a replay after a restart) records it again.
    await Promise.all([1, 2, 3, 4, 5].map((i) => s.recordLedgerEntry({ ...entry, at: T + i * 1_000 })));
    for (let i = 6; i <= 10; i++) await s.recordLedgerEntry({ ...entry, at: T + i * 1_000 });
    assert.equal(await s.countLedgerEntries({ playbook: 'pb' }, T), 1);
    assert.equal(await s.countLedgerEntries({ subject: 'shop/web-1' }, T), 1);
    // Concurrent records: one of them wins, never a later sequential one.
    const first = await s.lastLedgerEntry('shop/web-1');
    assert.ok(first !== null && first.id === 'job-1' && first.at >= T + 1_000 && first.at <= T + 5_000, JSON.stringify(first));
    assert.equal(await s.countLedgerEntries({ playbook: 'pb' }, first.at + 1), 0, 'counted at its first time only');

    await s.recordLedgerEntry({ ...entry, id: 'job-2', incidentId: 'inc-2', at: T + 20_000 });
    assert.equal(await s.countLedgerEntries({ playbook: 'pb' }, T), 2);
    assert.deepEqual(await s.lastLedgerEntry('shop/web-1'), { ...entry, id: 'job-2', incidentId: 'inc-2', at: T + 20_000 });
    assert.equal(await s.lastLedgerEntry('shop/web-2'), null);

    // A day later both are dropped, from the sets and the entry hash.
    await s.recordLedgerEntry({ ...entry, id: 'job-3', at: T + 20_001 + 24 * 3_600_000 });
    assert.equal(await s.countLedgerEntries({ playbook: 'pb' }, 0), 1);
    assert.equal(await s.countLedgerEntries({ subject: 'shop/web-1' }, 0), 1);
    assert.equal((await s.lastLedgerEntry('shop/web-1'))?.id, 'job-3');
    assert.deepEqual(await conn.hkeys(`${s.keyPrefix}:ledger:entries`), ['job-3']);
  });

  it('sequential re-records of one ledger id keep the first at', async () => {
    const s = new RedisKnowledgeStore(redis.connect(), uniquePrefix());
    for (let i = 1; i <= 5; i++)
      await s.recordLedgerEntry({ id: 'job-1', playbook: 'pb', subject: 'shop/web-1', incidentId: 'inc-1', at: 1_000 * i });
    assert.equal(await s.countLedgerEntries({ playbook: 'pb' }, 0), 1);
    assert.equal(await s.countLedgerEntries({ subject: 'shop/web-1' }, 0), 1);
    assert.deepEqual(await s.lastLedgerEntry('shop/web-1'), {
      id: 'job-1',
      playbook: 'pb',
      subject: 'shop/web-1',
      incidentId: 'inc-1',
      at: 1_000,
    });
  });

  it('two prefixes on one Redis never see each other', async () => {
    const conn = redis.connect();
    const a = new RedisKnowledgeStore(conn, uniquePrefix('a'));
    const b = new RedisKnowledgeStore(conn, uniquePrefix('b'));
    assert.equal((await a.openIncident(candidate('shop/web-1', 1_000))).opened, true);
    assert.equal((await b.openIncident(candidate('shop/web-1', 1_000))).opened, true, 'same incident id, other prefix');
    await a.resolveIncident(makeIncidentId('rotation_failed', 'shop/web-1', 1_000), 2_000, 'healed');
    assert.equal((await b.findOpenIncident('rotation_failed', 'shop/web-1'))?.status, 'open');
    await a.putWorkload(workload('shop/web-1'));
    await a.setControl({ paused: true, reason: 'x', since: 1 });
    await a.recordObservation(certsObservation('shop/web-1', 1, null));
    assert.deepEqual(await b.listWorkloads(), []);
    assert.equal((await b.getControl()).paused, false);
    assert.deepEqual(await b.listLatestObservations(), []);
    assert.deepEqual(
      (await b.listIncidents()).map((i) => i.status),
      ['open'],
    );
  });
});
