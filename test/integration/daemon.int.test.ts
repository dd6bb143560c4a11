import { WebhookNotifier } from '../../src/adapters/webhook/webhook-notifier.js';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { Redis } from 'ioredis';
import { EnvoyAdminHttp } from '../../src/adapters/envoy/admin-http.js';
import { PromMetrics } from '../../src/adapters/metrics/prom-metrics.js';
import { BullmqRemediationQueue } from '../../src/adapters/queue/bullmq-remediation-queue.js';
import { RedisAuditLog } from '../../src/adapters/redis/redis-audit-log.js';
import { RedisKnowledgeStore } from '../../src/adapters/redis/redis-knowledge-store.js';
import { systemClock } from '../../src/knowledge/clock.js';
import type { RemediationQueuePort } from '../../src/ports/remediation-queue.port.js';
import type { Playbook } from '../../src/plan/playbooks/playbook.js';
import { defaultPlaybooks, playbook, step } from '../builders/playbooks.js';
import { Daemon } from '../../src/runtime/daemon.js';
import { silentLogger } from '../../src/runtime/logger.js';
import { simulationConfig } from '../../src/runtime/simulation-runner.js';
import { parseScenario } from '../../src/sim/scenario.js';
import { startSimulatedFleet, type RunningSimFleet } from '../../src/sim/simulated-fleet.js';
import { startTestRedis, uniquePrefix } from '../support/redis.js';

const scenario = parseScenario(
  'inline',
  ['name: int', 'fleet:', '  svidTtl: 4s', '  envoyRestart: 300ms', '  workloads:', '    - {location: shop, name: web, count: 3}'].join(
    '\n',
  ),
);

async function waitFor<T>(what: string, fn: () => Promise<T | null | undefined | false>, timeoutMs = 20_000): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = await fn();
    if (v !== null && v !== undefined && v !== false) return v;
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * promtool is the referee for the exposition format. prom-client's own default Node.js gauges are
 * named *_total upstream; that is the only complaint tolerated.
 */
const UPSTREAM_NAMES =
  /^selfheal_process_nodejs_active_(handles|requests|resources)_total non-counter metrics should not have "_total" suffix$/;
function assertPromtoolAccepts(metrics: string): void {
  const r = spawnSync('promtool', ['check', 'metrics'], { input: metrics, encoding: 'utf8' });
  if (r.error !== undefined) {
    assert.ok(process.env['CI'] !== 'true', 'promtool must be installed in CI (.ci/run installs the prometheus package)');
    return;
  }
  const problems = `${r.stdout}${r.stderr}`.split('\n').filter((l) => l.trim() !== '' && !UPSTREAM_NAMES.test(l.trim()));
  assert.deepEqual(problems, [], 'promtool check metrics');
}

/** A queue for a replica that plans but does not execute (its worker never starts). */
function planOnly(q: RemediationQueuePort): RemediationQueuePort {
  return {
    enqueue: (j) => q.enqueue(j),
    startWorker: () => Promise.resolve(),
    stopWorker: () => Promise.resolve(),
    close: (g) => q.close(g),
    counts: () => q.counts(),
  };
}

describe('daemon on real Redis against the simulated fleet', () => {
  let redis: Awaited<ReturnType<typeof startTestRedis>>;
  let conn: Redis;
  before(async () => {
    redis = await startTestRedis();
    conn = new Redis(redis.url);
  });
  after(async () => {
    await conn.quit();
    await redis.stop();
  });

  /** Restart the stuck Envoy and verify a new serial (the shipped ladder needs the diagnosis; this one does not). */
  const restartLadder: readonly Playbook[] = [
    playbook({ steps: [step({ jobTimeoutMs: 15_000, verify: { expect: 'envoy_new_serial', timeoutMs: 20_000 } })] }),
  ];

  function build(fleet: RunningSimFleet, prefix: string, opts: { playbooks?: readonly Playbook[]; execute?: boolean } = {}) {
    const config = simulationConfig(scenario, fleet, redis.url, prefix);
    const store = new RedisKnowledgeStore(conn, prefix);
    const audit = new RedisAuditLog(conn, prefix);
    const queue = new BullmqRemediationQueue({ redisUrl: redis.url, keyPrefix: prefix });
    const daemon = new Daemon({
      config,
      store,
      audit,
      queue: opts.execute === false ? planOnly(queue) : queue,
      envoy: new EnvoyAdminHttp(),
      metrics: new PromMetrics(),
      clock: systemClock,
      log: silentLogger(),
      playbooks: () => opts.playbooks ?? defaultPlaybooks(),
      serveHttp: true,
      notifier: new WebhookNotifier(),
    });
    return { daemon, store, audit };
  }

  it('detects a stuck Envoy, restarts only that one, verifies, and audits every step', async () => {
    const fleet = await startSimulatedFleet(scenario);
    const { daemon, store, audit } = build(fleet, uniquePrefix(), { playbooks: restartLadder });
    try {
      await daemon.start();
      fleet.injectFault({ kind: 'envoy_sds_stuck', target: 'shop/web-1', atMs: 0 });
      const resolved = await waitFor('incident resolved', async () => (await store.listIncidents({ status: 'resolved' }))[0]);
      assert.equal(resolved.subject, 'shop/web-1');
      assert.equal(resolved.type, 'rotation_failed');
      assert.deepEqual(
        scenario.workloads.map((w) => fleet.world.envoy(w.id).restartCount),
        [0, 1, 0],
      );
      assert.notEqual(fleet.faults()[0]?.healedAt, null);
      const runs = await store.listActionRuns(resolved.id);
      assert.deepEqual(
        runs.map((r) => [r.action, r.state, r.performed]),
        [['restart_envoy', 'succeeded', true]],
      );
      const served = fleet.world.envoy('shop/web-1').served?.serialHex;
      assert.equal(served, fleet.world.agentSvid('shop/web-1').serialHex);

      await waitFor('verification audited', async () =>
        (await audit.list({ incidentId: resolved.id })).some((e) => e.type === 'verification.passed'),
      );
      const types = (await audit.list({ incidentId: resolved.id })).map((e) => e.type);
      // Plan verifies the new serial and analysis sees the recovery independently: both after the job, in either order.
      const trail = types.filter((t) => t !== 'plan.decided');
      assert.deepEqual(trail.slice(0, 4), ['incident.opened', 'job.enqueued', 'job.started', 'job.succeeded']);
      assert.deepEqual([...trail.slice(4)].sort(), ['incident.recovering', 'incident.resolved', 'verification.passed']);
      assert.deepEqual(await audit.verify(), { ok: true, entries: (await audit.list()).length });

      // /metrics and /healthz are served and say what happened.
      const addr = daemon.httpAddress;
      assert.ok(addr);
      const metrics = await (await fetch(`http://127.0.0.1:${addr.port}/metrics`)).text();
      assert.match(metrics, /selfheal_execute_actions_total\{action="restart_envoy",outcome="succeeded",performed="true"\} 1/);
      assert.match(metrics, /selfheal_analyze_incidents_opened_total\{type="rotation_failed"\} 1/);
      const health = await fetch(`http://127.0.0.1:${addr.port}/healthz`);
      assert.equal(health.status, 200);
      assertPromtoolAccepts(metrics);
    } finally {
      await daemon.stop(1_000);
      await fleet.stop();
    }
  });

  it('a restarted daemon continues the ladder from Redis without repeating the step', async () => {
    const fleet = await startSimulatedFleet(scenario);
    const prefix = uniquePrefix();
    // First daemon plans but cannot execute; it dies with the step queued.
    const first = build(fleet, prefix, { execute: false, playbooks: restartLadder });
    fleet.injectFault({ kind: 'envoy_sds_stuck', target: 'shop/web-2', atMs: 0 });
    await first.daemon.start();
    const queued = await waitFor('step queued', async () => {
      const open = (await first.store.listIncidents({ status: 'open' }))[0];
      if (open === undefined) return null;
      return (await first.store.listActionRuns(open.id)).find((r) => r.state === 'queued');
    });
    await first.daemon.stop(500);
    assert.equal(fleet.world.envoy('shop/web-2').restartCount, 0);

    const second = build(fleet, prefix, { playbooks: restartLadder });
    try {
      await second.daemon.start();
      const resolved = await waitFor(
        'incident resolved after restart',
        async () => (await second.store.listIncidents({ status: 'resolved' }))[0],
      );
      assert.equal(resolved.id, queued.incidentId);
      const runs = await second.store.listActionRuns(resolved.id);
      assert.deepEqual(
        runs.map((r) => [r.id, r.state]),
        [[queued.id, 'succeeded']],
      );
      assert.equal(fleet.world.envoy('shop/web-2').restartCount, 1);
      const started = (await second.audit.list({ incidentId: resolved.id })).filter(
        (e) => e.type === 'job.started' || e.type === 'job.enqueued',
      );
      assert.deepEqual(
        started.map((e) => e.type),
        ['job.enqueued', 'job.started'],
      );
      assert.equal(fleet.actionsOnHealthyTargets(), 0);
    } finally {
      await second.daemon.stop(1_000);
      await fleet.stop();
    }
  });
});
