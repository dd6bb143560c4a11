/**
 * A remediation worker in a process of its own, for tests that kill a worker for real: the
 * BullMQ worker of BullmqRemediationQueue running processRemediationJob with the daemon's real
 * action registry, knowledge in Redis, and the Envoy admin and Kubernetes ports pointed at the
 * (simulated) fleet.
 *
 *   node --import tsx test/support/remediation-worker.process.ts '<WorkerProcessOptions as JSON>'
 *
 * Writes "ready" on stdout once the worker consumes jobs. SIGTERM stops it gracefully (stop
 * fetching, finish the in-flight job, close) and exits 0.
 */
import { Redis } from 'ioredis';
import { EnvoyAdminHttp } from '../../src/adapters/envoy/admin-http.js';
import { KubernetesInventory } from '../../src/adapters/kubernetes/kubernetes-inventory.js';
import { BullmqRemediationQueue } from '../../src/adapters/queue/bullmq-remediation-queue.js';
import { RedisAuditLog } from '../../src/adapters/redis/redis-audit-log.js';
import { RedisKnowledgeStore } from '../../src/adapters/redis/redis-knowledge-store.js';
import { WebhookNotifier } from '../../src/adapters/webhook/webhook-notifier.js';
import type { ActionContext } from '../../src/execute/action.js';
import { processRemediationJob } from '../../src/execute/process-remediation-job.js';
import { systemClock } from '../../src/knowledge/clock.js';
import { actionRegistry } from '../../src/runtime/daemon.js';

/** What the parent passes as argv[2] (JSON). */
export interface WorkerProcessOptions {
  readonly redisUrl: string;
  readonly keyPrefix: string;
  /** The Kubernetes API server (the simulated fleet's). */
  readonly kubeUrl: string;
  readonly lockDurationMs: number;
  readonly stalledIntervalMs: number;
}

const opts = JSON.parse(process.argv[2] ?? '{}') as WorkerProcessOptions;
const conn = new Redis(opts.redisUrl);
const store = new RedisKnowledgeStore(conn, opts.keyPrefix);
const ctx: ActionContext = {
  store,
  audit: new RedisAuditLog(conn, opts.keyPrefix),
  clock: systemClock,
  envoy: new EnvoyAdminHttp(),
  rotation: { rotateAtFraction: 0.5, graceMs: 500 },
  kubernetes: new KubernetesInventory({ connection: { kind: 'server', server: opts.kubeUrl } }),
  scope: { production: false, simulated: true, trustDomains: [], namespaces: [] },
};
const actions = actionRegistry(new WebhookNotifier());
const queue = new BullmqRemediationQueue({
  redisUrl: opts.redisUrl,
  keyPrefix: opts.keyPrefix,
  lockDurationMs: opts.lockDurationMs,
  stalledIntervalMs: opts.stalledIntervalMs,
  onError: (e) => {
    process.stderr.write(`worker ${String(process.pid)}: queue error: ${e.message}\n`);
  },
});
await queue.startWorker((job, signal, delivery) => processRemediationJob(job, actions, ctx, signal, delivery), { concurrency: 1 });
process.once('SIGTERM', () => {
  void queue
    .close(5_000)
    .then(() => conn.quit())
    .then(() => {
      process.exit(0);
    });
});
process.stdout.write('ready\n');
