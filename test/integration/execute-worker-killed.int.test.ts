/**
 * At-least-once delivery meets a worker that dies mid-job. A real worker process (BullMQ worker,
 * real action registry, knowledge in a real Redis, Kubernetes on the simulated fleet's API server)
 * is SIGKILLed at the moment its redeploy's rollout patch lands on the API server: the effect
 * exists, nothing about it is recorded, the job is left active with a lock nobody renews. A second
 * worker process recovers the stalled job, and the world shows exactly one effect while knowledge
 * and the audit log show exactly one terminal state.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { BullmqRemediationQueue } from '../../src/adapters/queue/bullmq-remediation-queue.js';
import { RedisAuditLog } from '../../src/adapters/redis/redis-audit-log.js';
import { RedisKnowledgeStore } from '../../src/adapters/redis/redis-knowledge-store.js';
import { restartedAtOf } from '../../src/execute/actions/redeploy.action.js';
import { makeActionRunId, type ActionRun, type RemediationRequest } from '../../src/knowledge/model/action-run.js';
import { makeIncidentId } from '../../src/knowledge/model/incident.js';
import type { KubeObject } from '../../src/sim/k8s/k8s-store.js';
import { parseScenario } from '../../src/sim/scenario.js';
import { startSimulatedFleet, type RunningSimFleet } from '../../src/sim/simulated-fleet.js';
import { startReadyProcess, waitFor, type ReadyProcess } from '../support/child-process.js';
import { startTestRedis, uniquePrefix } from '../support/redis.js';
import type { WorkerProcessOptions } from '../support/remediation-worker.process.js';

const scenario = parseScenario(
  'inline',
  'name: x\nfleet:\n  svidTtl: 60s\n  envoyRestart: 200ms\n  workloads:\n    - {location: shop, name: web, count: 2}\n',
);
const WORKER = 'test/support/remediation-worker.process.ts';
/** Short stall settings so a dead worker's job is redelivered in seconds rather than a minute. */
const STALL = { lockDurationMs: 1_500, stalledIntervalMs: 500 };
const TERMINAL: readonly ActionRun['state'][] = ['succeeded', 'failed', 'skipped'];

/** Starts a worker process and resolves once it consumes jobs. */
function startWorkerProcess(opts: WorkerProcessOptions): Promise<ReadyProcess> {
  return startReadyProcess(WORKER, opts, 'worker');
}

const restartedAt = (d: KubeObject | undefined): string | undefined =>
  (d?.spec as { template?: { metadata?: { annotations?: Record<string, string> } } } | undefined)?.template?.metadata?.annotations?.[
    'kubectl.kubernetes.io/restartedAt'
  ];

describe('execute: a worker killed mid-job causes exactly one effect', () => {
  let redis: Awaited<ReturnType<typeof startTestRedis>>;
  let conn: Redis;
  let fleet: RunningSimFleet;
  const children: ChildProcess[] = [];
  before(async () => {
    redis = await startTestRedis();
    conn = new Redis(redis.url);
    fleet = await startSimulatedFleet(scenario);
  });
  after(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await fleet.stop();
    await conn.quit();
    await redis.stop();
  });

  it('redeploy: SIGKILL after the rollout patch landed and before anything was recorded; the stalled job is redelivered and ends succeeded once, with one rollout', async () => {
    const prefix = uniquePrefix('killed');
    const store = new RedisKnowledgeStore(conn, prefix);
    const audit = new RedisAuditLog(conn, prefix);
    const workload = fleet.targets().find((w) => w.id === 'shop/web-1');
    assert.ok(workload);
    await store.putWorkload(workload);
    const now = Date.now();
    // mtls_errors: redeploy's precheck does not skip on a healthy Envoy, so the redelivered job really
    // performs again; only the restartedAt value fixed per job keeps that from being a second rollout.
    const incidentId = makeIncidentId('mtls_errors', workload.id, now);
    await store.openIncident({
      id: incidentId,
      type: 'mtls_errors',
      subject: workload.id,
      status: 'open',
      openedAt: now,
      resolvedAt: null,
      explanation: 'test',
      evidence: [],
      history: [],
    });
    const job: RemediationRequest = {
      id: makeActionRunId(incidentId, 2, 1),
      incidentId,
      step: 2,
      attempt: 1,
      action: 'redeploy',
      target: workload.id,
      decidedAt: now,
      shadow: false,
      params: {},
    };
    const stamp = restartedAtOf(job).toISOString().replace('.000Z', 'Z');
    const deployment = (): KubeObject | undefined => fleet.kube.store.get('deployments', 'shop', 'web');
    const generation0 = deployment()?.metadata.generation ?? 0;
    const restarts0 = ['shop/web-0', 'shop/web-1'].map((id) => fleet.world.envoy(id).restartCount);
    const workerOpts: WorkerProcessOptions = { redisUrl: redis.url, keyPrefix: prefix, kubeUrl: fleet.kube.url, ...STALL };

    // Every write that gives the Deployment a new generation is one rollout. The first one kills
    // the worker that made it, synchronously, before the API server even answers its PATCH.
    let rollouts = 0;
    let victim: ChildProcess | null = null;
    const unsubscribe = fleet.kube.store.subscribe((c) => {
      if (
        c.resource !== 'deployments' ||
        c.type !== 'MODIFIED' ||
        (c.object.metadata.generation ?? 0) <= (c.previous?.metadata.generation ?? 0)
      )
        return;
      rollouts += 1;
      if (rollouts === 1) victim?.kill('SIGKILL');
    });
    const producer = new BullmqRemediationQueue({ redisUrl: redis.url, keyPrefix: prefix });
    const inspect = new Queue('remediation', { connection: conn, prefix: `${prefix}:bull` });
    try {
      const first = await startWorkerProcess(workerOpts);
      children.push(first.child);
      victim = first.child;
      assert.equal(await producer.enqueue(job), true);
      const death = await first.exited;
      assert.equal(death.signal, 'SIGKILL', `the first worker was to be killed mid-job:\n${first.stderr()}`);

      // Killed between the effect and its recording: the rollout happened, knowledge still says running.
      assert.equal(rollouts, 1);
      assert.equal(restartedAt(deployment()), stamp);
      assert.equal(deployment()?.metadata.generation, generation0 + 1);
      assert.equal((await store.getActionRun(job.id))?.state, 'running');
      assert.deepEqual(
        (await audit.list()).map((e) => e.type),
        ['job.started'],
      );
      assert.equal(await (await inspect.getJob(job.id))?.getState(), 'active', 'the dead worker left the job active');

      const second = await startWorkerProcess(workerOpts);
      children.push(second.child);
      const run = await waitFor('the redelivered job to end', async () => {
        const r = await store.getActionRun(job.id);
        return r !== null && TERMINAL.includes(r.state) ? r : null;
      });
      assert.equal(run.state, 'succeeded', run.detail);
      assert.equal(run.performed, true);
      assert.match(
        run.detail,
        new RegExp(
          `rollout restart of Deployment shop/web: spec.template annotation kubectl.kubernetes.io/restartedAt=${stamp} \\(generation ${generation0 + 1}\\)`,
        ),
      );

      // The second worker got the job through BullMQ's stalled-job recovery, and completed it.
      const bullJob = await inspect.getJob(job.id);
      assert.ok(bullJob);
      assert.equal(bullJob.stalledCounter, 1, 'recovered from exactly one stall');
      assert.equal(
        await waitFor('the BullMQ job to complete', async () => {
          const st = await bullJob.getState();
          return st === 'active' ? null : st;
        }),
        'completed',
      );
      second.child.kill('SIGTERM');
      assert.equal((await second.exited).code, 0, `the second worker stops gracefully:\n${second.stderr()}`);

      // Exactly one effect: one new generation (the redelivery patched the same restartedAt, a
      // no-op), each pod replaced once, one Event.
      await waitFor(
        'both pods replaced',
        () => ['shop/web-0', 'shop/web-1'].every((id, i) => fleet.world.envoy(id).restartCount > (restarts0[i] ?? 0)) || null,
      );
      assert.equal(rollouts, 1);
      assert.equal(deployment()?.metadata.generation, generation0 + 1);
      assert.equal(restartedAt(deployment()), stamp);
      assert.deepEqual(
        ['shop/web-0', 'shop/web-1'].map((id, i) => fleet.world.envoy(id).restartCount - (restarts0[i] ?? 0)),
        [1, 1],
      );
      const events = (fleet.kube.store.list('events', 'shop') as unknown as { reason: string; message: string }[]).filter((e) =>
        e.message.includes(job.id),
      );
      assert.deepEqual(
        events.map((e) => e.reason),
        ['SpireHealerRedeploy'],
      );

      // Exactly one terminal state, in knowledge and in the audit log.
      assert.deepEqual(
        (await store.listActionRuns(incidentId)).map((r) => [r.id, r.state]),
        [[job.id, 'succeeded']],
      );
      assert.deepEqual(
        (await audit.list()).map((e) => e.type),
        ['job.started', 'job.succeeded'],
      );
      assert.deepEqual(await audit.verify(), { ok: true, entries: 2 });
    } finally {
      unsubscribe();
      await inspect.close();
      await producer.close(1_000);
    }
  });
});
