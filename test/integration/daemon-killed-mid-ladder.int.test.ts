/**
 * Issue 5, done-when: "Killing the daemon in the middle of a ladder and starting it again
 * continues the ladder with no repeated step." A real daemon process (test/support/daemon.process.ts:
 * the Daemon with Redis knowledge and audit, BullMQ, Envoy admin over HTTP, SPIRE and Kubernetes
 * ports) remediates a fault of the simulated fleet, which runs in this process so its world
 * outlives the daemon. The ladder has two steps:
 *
 *   1. restart_envoy, verified by envoy_new_serial. The fault is svid_rotation_stopped: the agent
 *      holds no newer SVID, so the restarted Envoy comes back with the same stale serial (an Envoy
 *      restart does not heal it, see src/sim/world-faults.ts) and the post-condition cannot hold.
 *   2. force_rotation: evicts the node's agent, which re-attests and mints the SVID anew (healed
 *      by re-attestation), so the incident resolves.
 *
 * Daemon A is SIGKILLed while it verifies step 1 (its job succeeded, the verify deadline is a few
 * seconds away). Daemon B, on the same Redis prefix, must take the ladder from there: fail step 1's
 * verification at its stored deadline, run step 2, resolve. Each step's effect happens once in the
 * world, once in knowledge and once in the audit log.
 *
 * Why this fails without plan persistence: every side effect is idempotent on its own (job ids,
 * audit dedup keys, ledger entries, the terminal action run), so a B that lost the ladder would
 * still cause no second Envoy restart and append no second `plan.decided` (same dedup key): it
 * would start the ladder over at step 1, decide it again (its job already exists, its run is
 * terminal), fail its verification again from the recorded job end, and only then go on to step 2.
 * The world and the audit log hide that repeated step; the plan state written to Redis does not.
 * The test therefore records every plan snapshot written (Redis MONITOR) and requires that B never
 * puts the ladder back on step 1 and that each step is entered into `executing` once overall.
 * Check it with the mutation switch of daemon.process.ts, which makes the daemon keep its ladders
 * in memory only:
 *
 *   SPIRE_HEALER_TEST_FORGET_PLANS=1 node scripts/run-tests.mjs daemon-killed-mid-ladder
 *
 * fails on "daemon B wrote the ladder back onto step 1".
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { Redis } from 'ioredis';
import { RedisAuditLog } from '../../src/adapters/redis/redis-audit-log.js';
import { RedisKnowledgeStore } from '../../src/adapters/redis/redis-knowledge-store.js';
import { knowledgeKeys } from '../../src/adapters/redis/redis-keys.js';
import type { AuditEntry } from '../../src/knowledge/audit.js';
import type { PlanSnapshotRecord } from '../../src/knowledge/knowledge-store.js';
import { makeActionRunId, type ActionRun } from '../../src/knowledge/model/action-run.js';
import type { IncidentRemediation } from '../../src/knowledge/model/incident.js';
import type { IncidentPlanSnapshot } from '../../src/plan/incident-plan.machine.js';
import { simulationConfig } from '../../src/runtime/simulation-runner.js';
import { parseScenario } from '../../src/sim/scenario.js';
import { startSimulatedFleet, type RunningSimFleet } from '../../src/sim/simulated-fleet.js';
import { playbook, step } from '../builders/playbooks.js';
import type { DaemonProcessOptions } from '../support/daemon.process.js';
import { startReadyProcess, waitFor, type ReadyProcess } from '../support/child-process.js';
import { startTestRedis, uniquePrefix } from '../support/redis.js';

const DAEMON = 'test/support/daemon.process.ts';
const SUBJECT = 'shop/web-0';
const scenario = parseScenario(
  'inline',
  [
    'name: killed-mid-ladder',
    'fleet:',
    '  svidTtl: 4s',
    '  envoyRestart: 300ms',
    '  nodes: 2',
    '  workloads:',
    '    - {location: shop, name: web, count: 2}',
  ].join('\n'),
);

/**
 * The two-step ladder. Pacing fits the timeouts into the little time left before the stale SVID
 * expires, i.e. down to its minimums (2 s job, 3 s verify): step 1 verifies for 3 s after its job,
 * which is the window the test kills daemon A in. `waitReattest: 0s` keeps step 2's job short
 * (the agent re-attests on its own; the incident's resolution is the verification).
 */
const ladder = playbook({
  name: 'killed-mid-ladder',
  steps: [
    step({ action: 'restart_envoy', jobTimeoutMs: 10_000, verify: { expect: 'envoy_new_serial', timeoutMs: 3_000 } }),
    step({
      action: 'force_rotation',
      params: { waitReattest: '0s' },
      jobTimeoutMs: 10_000,
      verify: { expect: 'incident_resolved', timeoutMs: 20_000 },
    }),
  ],
});

async function startDaemonProcess(opts: DaemonProcessOptions, children: ChildProcess[]): Promise<ReadyProcess> {
  const p = await startReadyProcess(DAEMON, opts, 'daemon process');
  children.push(p.child);
  return p;
}

/** One plan snapshot or remediation record as written to Redis, and by which daemon. */
interface PlanWrite {
  readonly key: string;
  readonly by: 'A' | 'B';
  readonly value: string;
  readonly step: number;
  readonly jobId: string | null;
}

describe('a daemon SIGKILLed in the middle of a ladder (real processes, real Redis)', () => {
  let redis: Awaited<ReturnType<typeof startTestRedis>>;
  let conn: Redis;
  let fleet: RunningSimFleet;
  let monitor: Redis | null = null;
  const children: ChildProcess[] = [];
  before(async () => {
    redis = await startTestRedis();
    conn = new Redis(redis.url);
    fleet = await startSimulatedFleet(scenario);
  });
  after(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await Promise.all(children.filter((c) => c.exitCode === null && c.signalCode === null).map((c) => once(c, 'exit')));
    monitor?.disconnect();
    await fleet.stop();
    await conn.quit();
    await redis.stop();
  });

  it('the restarted daemon continues at step 2: each step decided, run and effective once', async () => {
    const prefix = uniquePrefix('killed-daemon');
    const store = new RedisKnowledgeStore(conn, prefix);
    const audit = new RedisAuditLog(conn, prefix);
    const keys = knowledgeKeys(prefix);
    const opts: DaemonProcessOptions = { config: simulationConfig(scenario, fleet, redis.url, prefix), playbooks: [ladder] };
    const node = fleet.world.workload(SUBJECT)?.node;
    assert.ok(node !== undefined);
    const otherNode = fleet.world.nodes().find((n) => n !== node);
    assert.ok(otherNode !== undefined);
    const restarts0 = fleet.world.workloads().map((w) => fleet.world.envoy(w.id).restartCount);
    const generation0 = fleet.world.agentAttestation(node).generation;
    const otherGeneration0 = fleet.world.agentAttestation(otherNode).generation;
    const restartDelta = (): number[] => fleet.world.workloads().map((w, i) => fleet.world.envoy(w.id).restartCount - (restarts0[i] ?? 0));

    // Every plan snapshot and remediation record either daemon writes, in order (MONITOR sees them all).
    let era: 'A' | 'B' = 'A';
    const snapshots: PlanWrite[] = [];
    const remediations: (IncidentRemediation & { key: string; by: 'A' | 'B' })[] = [];
    monitor = await conn.monitor(); // a connection of its own (ioredis duplicates conn)
    monitor.on('monitor', (_time: string, args: string[]) => {
      const [cmd = '', key = ''] = args;
      if (cmd.toLowerCase() === 'set' && key.startsWith(keys.planSnapshot(''))) {
        const rec = JSON.parse(args[2] ?? 'null') as PlanSnapshotRecord;
        const snap = rec.snapshot as IncidentPlanSnapshot;
        snapshots.push({ key, by: era, value: snap.value, step: snap.context.step, jobId: snap.context.jobId });
      }
      if (cmd.toLowerCase() === 'hset' && key.startsWith(keys.incident('')) && args[2] === 'remediation') {
        remediations.push({ ...(JSON.parse(args[3] ?? 'null') as IncidentRemediation), key, by: era });
      }
    });

    // Daemon A detects the stale SVID, runs step 1 and is killed while verifying it.
    const a = await startDaemonProcess(opts, children);
    fleet.injectFault({ kind: 'svid_rotation_stopped', target: SUBJECT, atMs: 0 });
    const diagA = (): string => `\ndaemon A stderr:\n${a.stderr()}`;
    const incident = await waitFor(
      'rotation_failed on the subject',
      async () => (await store.listIncidents({ status: 'open' })).find((i) => i.type === 'rotation_failed' && i.subject === SUBJECT),
      20_000,
      diagA,
    );
    const job1 = makeActionRunId(incident.id, 0, 1);
    const job2 = makeActionRunId(incident.id, 1, 1);
    await waitFor(
      'step 1 succeeded and being verified',
      async () => {
        const run = await store.getActionRun(job1);
        const snap = (await store.loadPlanSnapshot(incident.id))?.snapshot as IncidentPlanSnapshot | undefined;
        return run?.state === 'succeeded' && snap?.value === 'verifying' && snap.context.step === 0;
      },
      20_000,
      diagA,
    );
    assert.ok(a.child.kill('SIGKILL'));
    const death = await a.exited;
    assert.equal(death.signal, 'SIGKILL', `daemon A was to die by SIGKILL${diagA()}`);
    era = 'B';

    // Killed mid-ladder: step 1 done and under verification, step 2 not decided.
    const atKill = (await store.loadPlanSnapshot(incident.id))?.snapshot as IncidentPlanSnapshot | undefined;
    assert.deepEqual([atKill?.value, atKill?.context.step, atKill?.context.jobId], ['verifying', 0, job1]);
    assert.deepEqual(
      (await store.listActionRuns(incident.id)).map((r) => [r.id, r.state]),
      [[job1, 'succeeded']],
    );
    assert.deepEqual(restartDelta(), [1, 0]);
    assert.equal(fleet.world.agentAttestation(node).generation, generation0, 'step 2 has not run');
    assert.equal((await store.getIncident(incident.id))?.status, 'open');

    // Daemon B, same Redis prefix, takes over.
    const b = await startDaemonProcess(opts, children);
    const diagB = (): string => `\ndaemon B stderr:\n${b.stderr()}\nsnapshots: ${JSON.stringify(snapshots)}`;
    const resolved = await waitFor(
      'the incident resolved',
      async () => {
        const i = await store.getIncident(incident.id);
        return i?.status === 'resolved' ? i : null;
      },
      25_000,
      diagB,
    );
    // The plan takes the resolution in and ends (snapshot deleted, remediation done).
    await waitFor(
      'the plan done',
      async () => (await store.getRemediation(incident.id))?.phase === 'done' && (await store.loadPlanSnapshot(incident.id)) === null,
      10_000,
      diagB,
    );
    b.child.kill('SIGTERM');
    assert.equal((await b.exited).code, 0, `daemon B stops gracefully${diagB()}`);
    monitor.disconnect();
    monitor = null;

    // The world: one Envoy restart (step 1), one eviction and re-attestation (step 2), the fault healed, nothing healthy touched.
    assert.equal(resolved.subject, SUBJECT);
    assert.deepEqual(restartDelta(), [1, 0], 'step 1 restarted the Envoy exactly once');
    assert.equal(fleet.world.agentAttestation(node).generation, generation0 + 1, 'step 2 evicted the agent exactly once');
    assert.equal(fleet.world.agentAttestation(otherNode).generation, otherGeneration0);
    assert.ok(
      fleet.faults().every((f) => f.healedAt !== null),
      JSON.stringify(fleet.faults()),
    );
    assert.equal(fleet.actionsOnHealthyTargets(), 0);

    // Knowledge: exactly the two jobs, each performed once.
    const runs: ActionRun[] = await store.listActionRuns(incident.id);
    assert.deepEqual(
      runs.map((r) => [r.id, r.action, r.state, r.performed]),
      [
        [job1, 'restart_envoy', 'succeeded', true],
        [job2, 'force_rotation', 'succeeded', true],
      ],
    );

    // The audit log: one decision per step, one enqueue and one start per job, step 1 failed verification once, step 2 passed.
    const entries: AuditEntry[] = await audit.list({ incidentId: incident.id });
    const of = (type: string): AuditEntry[] => entries.filter((e) => e.type === type);
    const decided = of('plan.decided').filter((e) => e.data?.['jobId'] !== undefined);
    assert.deepEqual(
      decided.map((e) => [e.data?.['step'], e.data?.['action'], e.data?.['jobId']]),
      [
        [0, 'restart_envoy', job1],
        [1, 'force_rotation', job2],
      ],
    );
    assert.deepEqual(
      of('job.enqueued').map((e) => e.data?.['jobId']),
      [job1, job2],
    );
    assert.deepEqual(
      of('job.started').map((e) => e.data?.['jobId']),
      [job1, job2],
      'no job started twice',
    );
    assert.deepEqual(
      of('job.succeeded').map((e) => e.data?.['jobId']),
      [job1, job2],
    );
    assert.deepEqual(
      of('verification.failed').map((e) => e.data?.['step']),
      [0],
    );
    assert.deepEqual(
      of('verification.passed').map((e) => e.data?.['step']),
      [1],
    );
    assert.deepEqual(of('plan.escalated'), []);
    assert.deepEqual(await audit.verify(), { ok: true, entries: (await audit.list()).length });

    // The ladder as written to Redis: A decided step 1; B never put the plan back on step 1
    // (without persistence it would: see the header), and each step entered `executing` once.
    const mine = snapshots.filter((s) => s.key === keys.planSnapshot(incident.id));
    const trace = `\nplan snapshots written (by, state, step index): ${mine.map((s) => `${s.by} ${s.value} s${String(s.step)}`).join(' → ')}`;
    assert.ok(mine.some((s) => s.by === 'A') && mine.some((s) => s.by === 'B'), `both daemons wrote plan snapshots${trace}`);
    assert.ok(
      mine.filter((s) => s.by === 'A').every((s) => s.step === 0),
      `daemon A never left step 1${trace}`,
    );
    assert.ok(
      mine.filter((s) => s.by === 'B').every((s) => s.step === 1),
      `daemon B wrote the ladder back onto step 1 (s0): it did not continue from the snapshot${trace}`,
    );
    const entered = mine.filter(
      (s, i) => s.value === 'executing' && !(mine[i - 1]?.value === 'executing' && mine[i - 1]?.jobId === s.jobId),
    );
    assert.deepEqual(
      entered.map((s) => [s.by, s.step, s.jobId]),
      [
        ['A', 0, job1],
        ['B', 1, job2],
      ],
      `each step decided once${trace}`,
    );
    const remB = remediations.filter((r) => r.key === keys.incident(incident.id) && r.by === 'B');
    assert.ok(
      remB.length > 0 && remB.every((r) => r.step === 1),
      `daemon B recorded only step 2 on the incident: ${JSON.stringify(remB.map((r) => [r.phase, r.step]))}`,
    );
  });
});
