/**
 * bench:execute — the remediation pipeline on a real Redis (started here), two figures in one run:
 *
 * 1. Throughput with a no-op action: jobs enqueued through the queue port and run by its worker
 *    through processRemediationJob (run record in knowledge, job.started / job.succeeded in the
 *    hash-chained audit log, precheck, perform), against raw BullMQ no-op jobs (Queue.add + Worker
 *    with an empty processor, same concurrency, same Redis), in the same run.
 *    Target (issue 6): pipeline / raw >= 0.5.
 * 2. Latency from an incident opening to its job starting while 1,000 incidents are open: the plan
 *    loop and the worker wired as in the daemon (plan machine + reconcilePlans, nudged with the
 *    incident that opened or whose job ended, a full pass every 2 s; BullMQ worker +
 *    processRemediationJob), a playbook whose step is the no-op
 *    action. 1,000 incidents are opened at once and stay open (their step verifies for an hour);
 *    then new incidents open one at a time and each one's open -> job started time is measured.
 *    Target (issue 6): p99 <= 50 ms. The time for the initial burst of 1,000 is printed too.
 *
 * BENCH_JOBS (default 3000), BENCH_INCIDENTS (1000), BENCH_PROBES (200) change the sizes.
 */
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { createActor, fromPromise } from 'xstate';
import { BullmqRemediationQueue } from '../src/adapters/queue/bullmq-remediation-queue.js';
import { RedisAuditLog } from '../src/adapters/redis/redis-audit-log.js';
import { RedisKnowledgeStore } from '../src/adapters/redis/redis-knowledge-store.js';
import { startRedisServer } from '../src/adapters/redis/redis-server-process.js';
import type { ActionContext, RemediationAction } from '../src/execute/action.js';
import { processRemediationJob, type ActionRegistry } from '../src/execute/process-remediation-job.js';
import { systemClock } from '../src/knowledge/clock.js';
import { makeActionRunId, type RemediationRequest } from '../src/knowledge/model/action-run.js';
import { makeIncidentId, type Incident } from '../src/knowledge/model/incident.js';
import type { Workload } from '../src/knowledge/model/workload.js';
import { planMachine, type PlanFocus } from '../src/plan/plan.machine.js';
import { parsePlaybooks } from '../src/plan/playbooks/parse-playbooks.js';
import { reconcilePlans, type PlanPassResult } from '../src/plan/reconcile-plans.js';
import type { EnvoyAdminPort } from '../src/ports/envoy-admin.port.js';

const JOBS = Number(process.env['BENCH_JOBS'] ?? '3000');
const INCIDENTS = Number(process.env['BENCH_INCIDENTS'] ?? '1000');
const PROBES = Number(process.env['BENCH_PROBES'] ?? '200');
/** Worker concurrency for both sides (the daemon's default). */
const CONCURRENCY = 4;
/** Producers adding jobs at once (a plan pass enqueues one job per decided step, several passes can overlap across replicas). */
const PRODUCERS = 8;

const noop: RemediationAction = {
  name: 'restart_envoy',
  precheck: () => Promise.resolve({ proceed: true, detail: 'no-op precheck' }),
  perform: () => Promise.resolve('no-op'),
};
const actions: ActionRegistry = new Map([['restart_envoy', noop]]);
const unusedEnvoy = new Proxy(
  {},
  { get: () => () => Promise.reject(new Error('bench: the no-op action reads no Envoy')) },
) as EnvoyAdminPort;

const redisServer = await startRedisServer();
const redis = new Redis(redisServer.url);
redis.on('error', (e) => {
  process.stderr.write(`bench redis: ${e.message}\n`);
});

function context(prefix: string): ActionContext {
  return {
    store: new RedisKnowledgeStore(redis, prefix),
    audit: new RedisAuditLog(redis, prefix),
    clock: systemClock,
    envoy: unusedEnvoy,
    rotation: { rotateAtFraction: 0.5, graceMs: 1_000 },
  };
}

const percentile = (xs: readonly number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] ?? NaN;
};

/** Runs `n` tasks with `width` producers at once. */
async function inParallel(n: number, width: number, task: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < n) await task(next++);
    }),
  );
}

/** Raw BullMQ: Queue.add with the same options the port uses, and a Worker whose processor does nothing. */
async function rawBullmq(prefix: string): Promise<number> {
  const producer = new Redis(redisServer.url, { maxRetriesPerRequest: 3 });
  const consumer = new Redis(redisServer.url, { maxRetriesPerRequest: null });
  const queue = new Queue('raw', { connection: producer, prefix });
  let done = 0;
  let finished!: () => void;
  const all = new Promise<void>((r) => {
    finished = r;
  });
  const worker = new Worker('raw', (_job, _token, _signal) => Promise.resolve({ result: 'succeeded' }), {
    connection: consumer,
    prefix,
    concurrency: CONCURRENCY,
  });
  worker.on('completed', () => {
    if (++done === JOBS) finished();
  });
  await worker.waitUntilReady();
  const t0 = performance.now();
  await inParallel(JOBS, PRODUCERS, (i) =>
    queue.add(
      'remediate',
      { i },
      {
        jobId: `raw-${String(i)}`,
        attempts: 3,
        backoff: { type: 'exponential', delay: 1_000 },
        removeOnComplete: { age: 86_400 },
        removeOnFail: { age: 604_800 },
      },
    ),
  );
  await all;
  const secs = (performance.now() - t0) / 1000;
  await worker.close();
  await queue.close();
  await Promise.all([producer.quit(), consumer.quit()]);
  return JOBS / secs;
}

/** The pipeline: the queue port's enqueue, its worker, processRemediationJob with the no-op action. */
async function pipeline(prefix: string): Promise<number> {
  const ctx = context(prefix);
  const queue = new BullmqRemediationQueue({ redisUrl: redisServer.url, keyPrefix: prefix });
  let done = 0;
  let succeeded = 0;
  let finished!: () => void;
  const all = new Promise<void>((r) => {
    finished = r;
  });
  await queue.startWorker(
    async (job, signal, delivery) => {
      const out = await processRemediationJob(job, actions, ctx, signal, delivery);
      if (out.result === 'succeeded') succeeded++;
      if (++done === JOBS) finished();
      return out;
    },
    { concurrency: CONCURRENCY },
  );
  // The incidents exist and are open (the job's gate checks read them), as when plan decides.
  const now = Date.now();
  const requests = await Promise.all(
    Array.from({ length: JOBS }, async (_, i): Promise<RemediationRequest> => {
      const target = `bench/app-${String(i)}`;
      const incidentId = makeIncidentId('mtls_errors', target, now);
      await ctx.store.openIncident({
        id: incidentId,
        type: 'mtls_errors',
        subject: target,
        status: 'open',
        openedAt: now,
        resolvedAt: null,
        explanation: 'bench',
        evidence: [],
        history: [],
      });
      return {
        id: makeActionRunId(incidentId, 0, 1),
        incidentId,
        step: 0,
        attempt: 1,
        action: 'restart_envoy',
        target,
        decidedAt: now,
        shadow: false,
        params: {},
        timeoutMs: 30_000,
      };
    }),
  );
  const t0 = performance.now();
  await inParallel(JOBS, PRODUCERS, (i) => queue.enqueue(requests[i] as RemediationRequest));
  await all;
  const secs = (performance.now() - t0) / 1000;
  await queue.close();
  if (succeeded !== JOBS) throw new Error(`pipeline: ${String(succeeded)} of ${String(JOBS)} no-op jobs succeeded`);
  const chain = await ctx.audit.verify();
  if (!chain.ok || chain.entries !== 2 * JOBS)
    throw new Error(`pipeline audit log: expected ${String(2 * JOBS)} entries in an intact chain, got ${JSON.stringify(chain)}`);
  return JOBS / secs;
}

const PLAYBOOK = `
playbooks:
  - name: bench-noop
    match: { types: [mtls_errors] }
    steps:
      - action: restart_envoy
        timeout: 30s
        verify: { expect: incident_resolved, timeout: 1h }
    # Wide enough for every incident of the bench to act at once: the figure is the pipeline's, not a guardrail's.
    guardrails:
      cooldown: 0s
      maxActions:
        perPlaybook: { count: 100000, window: 1h }
        perSubject: { count: 100, window: 1h }
      maxConcurrent: 100000
      blastRadius: { perService: 100%, perNode: 100% }
`;

/** Open -> job started, with the plan loop and worker wired as in the daemon. */
async function latency(
  prefix: string,
): Promise<{ burstP50: number; burstP99: number; burstAll: number; p50: number; p95: number; p99: number; max: number }> {
  const parsed = parsePlaybooks('<bench>', PLAYBOOK);
  if (!parsed.ok) throw new Error(parsed.problems.map((p) => p.message).join('; '));
  const playbooks = parsed.playbooks;
  const ctx = context(prefix);
  const { store, audit } = ctx;
  const total = INCIDENTS + PROBES;
  const workloads: Workload[] = Array.from({ length: total }, (_, i) => ({
    id: `ns-${String(i % 50)}/app-${String(i)}`,
    spiffeId: `spiffe://example.org/ns/ns-${String(i % 50)}/sa/app-${String(i)}`,
    trustDomain: 'example.org',
    platform: 'kubernetes',
    location: `ns-${String(i % 50)}`,
    node: `node-${String(i % 100)}`,
    envoyAdminUrl: `http://10.0.0.1:${String(9901 + i)}`,
  }));
  for (const w of workloads) await store.putWorkload(w);

  const openedAt = new Map<string, number>();
  const startedAt = new Map<string, number>();
  const queue = new BullmqRemediationQueue({ redisUrl: redisServer.url, keyPrefix: prefix });
  const plan = createActor(
    planMachine.provide({
      actors: {
        reconcile: fromPromise<PlanPassResult, { focus: PlanFocus }>(({ input }) =>
          reconcilePlans(
            { store, audit, playbooks: () => playbooks, enqueue: (req) => queue.enqueue(req) },
            Date.now(),
            input.focus ?? undefined,
          ),
        ),
      },
    }),
    { input: { intervalMs: 2_000, maxBackoffMs: 60_000 } },
  );
  plan.subscribe({
    error: (e: unknown) => {
      process.stderr.write(`plan loop failed: ${String(e)}\n`);
    },
  });
  await queue.startWorker(
    async (job, signal, delivery) => {
      if (!startedAt.has(job.incidentId)) startedAt.set(job.incidentId, performance.now());
      const out = await processRemediationJob(job, actions, ctx, signal, delivery);
      plan.send({ type: 'knowledge.changed', incidentIds: [job.incidentId] });
      return out;
    },
    { concurrency: CONCURRENCY },
  );
  plan.start();

  /** What analysis does when it opens an incident: record it, audit it, nudge plan. */
  const open = async (w: Workload): Promise<string> => {
    const at = Date.now();
    const incident: Incident = {
      id: makeIncidentId('mtls_errors', w.id, at),
      type: 'mtls_errors',
      subject: w.id,
      status: 'open',
      openedAt: at,
      resolvedAt: null,
      explanation: `bench: mTLS errors on ${w.id}`,
      evidence: [],
      history: [],
      cause: 'handshake_failures',
    };
    openedAt.set(incident.id, performance.now());
    await store.openIncident(incident);
    await audit.append({
      type: 'incident.opened',
      at,
      incidentId: incident.id,
      subject: w.id,
      message: incident.explanation,
      dedupKey: `incident.opened--${incident.id}`,
    });
    plan.send({ type: 'knowledge.changed', incidentIds: [incident.id] });
    return incident.id;
  };
  const waitStarted = async (ids: readonly string[]): Promise<void> => {
    const deadline = performance.now() + 300_000;
    while (!ids.every((id) => startedAt.has(id))) {
      if (performance.now() > deadline)
        throw new Error(`only ${String(ids.filter((id) => startedAt.has(id)).length)} of ${String(ids.length)} jobs started`);
      await new Promise((r) => setTimeout(r, 5));
    }
  };
  const latencyOf = (id: string): number => (startedAt.get(id) ?? NaN) - (openedAt.get(id) ?? NaN);

  // The burst: INCIDENTS open at once (one analysis pass finding them all), then stay open.
  const burst: string[] = [];
  for (const w of workloads.slice(0, INCIDENTS)) burst.push(await open(w));
  await waitStarted(burst);
  const burstLat = burst.map(latencyOf);

  // With INCIDENTS open and their plans live, new incidents open one at a time.
  const probes: number[] = [];
  for (const w of workloads.slice(INCIDENTS)) {
    const id = await open(w);
    await waitStarted([id]);
    probes.push(latencyOf(id));
    await new Promise((r) => setTimeout(r, 20));
  }
  plan.stop();
  await queue.close();
  const live = (await store.listIncidents({ status: 'open' })).length;
  if (live !== total) throw new Error(`expected ${String(total)} open incidents at the end, found ${String(live)}`);
  return {
    burstP50: percentile(burstLat, 50),
    burstP99: percentile(burstLat, 99),
    burstAll: Math.max(...burstLat),
    p50: percentile(probes, 50),
    p95: percentile(probes, 95),
    p99: percentile(probes, 99),
    max: Math.max(...probes),
  };
}

try {
  const raw = await rawBullmq('bench-raw');
  const piped = await pipeline('bench-pipeline');
  process.stdout.write(
    `throughput (${String(JOBS)} no-op jobs, concurrency ${String(CONCURRENCY)}): raw BullMQ ${raw.toFixed(0)} jobs/s, remediation pipeline ${piped.toFixed(0)} jobs/s, ratio ${(piped / raw).toFixed(2)} (target >= 0.5)\n`,
  );
  const l = await latency('bench-latency');
  const ms = (x: number): string => `${x.toFixed(1)} ms`;
  process.stdout.write(
    `incident open -> job started, ${String(INCIDENTS)} incidents open: p50 ${ms(l.p50)}, p95 ${ms(l.p95)}, p99 ${ms(l.p99)}, max ${ms(l.max)} over ${String(PROBES)} new incidents (target p99 <= 50 ms)\n`,
  );
  process.stdout.write(
    `  the opening burst of ${String(INCIDENTS)} at once: p50 ${ms(l.burstP50)}, p99 ${ms(l.burstP99)}, last job started after ${ms(l.burstAll)}\n`,
  );
} finally {
  await redis.quit();
  await redisServer.stop();
}
