/**
 * A whole daemon in a process of its own, for tests that kill it for real: the Daemon of
 * src/runtime/daemon.ts with knowledge and the audit log in Redis, the BullMQ queue and worker,
 * Envoy admin over HTTP, and the SPIRE (server API, agent Debug and Delegated Identity, health)
 * and Kubernetes ports wired as the composition root wires them. The simulated fleet stays in the
 * parent (so its world outlives this process); the parent passes its endpoints in the config.
 *
 *   node --import tsx test/support/daemon.process.ts '<DaemonProcessOptions as JSON>'
 *
 * Writes "ready" on stdout once the daemon runs. SIGTERM stops it gracefully and exits 0; SIGKILL
 * is what a crash test sends.
 *
 * Mutation switch, for checking that a crash test really depends on plan persistence: with
 * SPIRE_HEALER_TEST_FORGET_PLANS=1 in the environment, the process ignores every plan snapshot it
 * did not save itself, i.e. it behaves as a daemon that keeps its ladders in memory only.
 */
import { Redis } from 'ioredis';
import { EnvoyAdminHttp } from '../../src/adapters/envoy/admin-http.js';
import { KubernetesInventory } from '../../src/adapters/kubernetes/kubernetes-inventory.js';
import { PromMetrics } from '../../src/adapters/metrics/prom-metrics.js';
import { BullmqRemediationQueue } from '../../src/adapters/queue/bullmq-remediation-queue.js';
import { RedisAuditLog } from '../../src/adapters/redis/redis-audit-log.js';
import { RedisKnowledgeStore } from '../../src/adapters/redis/redis-knowledge-store.js';
import { GrpcAgentAdmin } from '../../src/adapters/spire/agent-admin.client.js';
import { HttpSpireHealth } from '../../src/adapters/spire/spire-health.client.js';
import { GrpcSpireServer } from '../../src/adapters/spire/spire-server.client.js';
import { WebhookNotifier } from '../../src/adapters/webhook/webhook-notifier.js';
import { systemClock } from '../../src/knowledge/clock.js';
import type { PlanSnapshotRecord } from '../../src/knowledge/knowledge-store.js';
import type { Playbook } from '../../src/plan/playbooks/playbook.js';
import type { DaemonConfig } from '../../src/runtime/config.js';
import { Daemon } from '../../src/runtime/daemon.js';
import { createLogger } from '../../src/runtime/logger.js';
import type { MonitorSourcePorts } from '../../src/runtime/monitor-sources.js';

/** What the parent passes as argv[2] (JSON). */
export interface DaemonProcessOptions {
  /**
   * The daemon's config: redis.url and redis.keyPrefix name the knowledge, targets and sources
   * the (simulated) fleet's endpoints. Typically simulationConfig(scenario, fleet, url, prefix).
   * Cloud Run sources are not wired here.
   */
  readonly config: DaemonConfig;
  readonly playbooks: readonly Playbook[];
  /** BullMQ stall detection (defaults 30 s each): short values let a successor recover a dead daemon's active job in seconds. */
  readonly lockDurationMs?: number;
  readonly stalledIntervalMs?: number;
}

/** The mutation switch (see the header). */
export const FORGET_PLANS_ENV = 'SPIRE_HEALER_TEST_FORGET_PLANS';

/** A store that only sees the plan snapshots this process saved: ladders kept in memory, as if nothing were persisted across restarts. */
class ForgetfulPlanStore extends RedisKnowledgeStore {
  private readonly mine = new Set<string>();
  override async savePlanSnapshot(incidentId: string, rec: PlanSnapshotRecord): Promise<void> {
    this.mine.add(incidentId);
    await super.savePlanSnapshot(incidentId, rec);
  }
  override async loadPlanSnapshot(incidentId: string): Promise<PlanSnapshotRecord | null> {
    return this.mine.has(incidentId) ? super.loadPlanSnapshot(incidentId) : null;
  }
}

const opts = JSON.parse(process.argv[2] ?? '{}') as DaemonProcessOptions;
const { config } = opts;
const redisUrl = config.redis.url;
if (redisUrl === undefined) throw new Error('daemon.process: config.redis.url is required');
if (config.sources.cloudRun !== undefined) throw new Error('daemon.process: Cloud Run sources are not wired in this test process');
const log = createLogger(process.env['LOG_LEVEL'] ?? 'warn');

const conn = new Redis(redisUrl, { maxRetriesPerRequest: 3 });
const store =
  process.env[FORGET_PLANS_ENV] === '1'
    ? new ForgetfulPlanStore(conn, config.redis.keyPrefix)
    : new RedisKnowledgeStore(conn, config.redis.keyPrefix);
const audit = new RedisAuditLog(conn, config.redis.keyPrefix);
const queue = new BullmqRemediationQueue({
  redisUrl,
  keyPrefix: config.redis.keyPrefix,
  ...(opts.lockDurationMs === undefined ? {} : { lockDurationMs: opts.lockDurationMs }),
  ...(opts.stalledIntervalMs === undefined ? {} : { stalledIntervalMs: opts.stalledIntervalMs }),
  onError: (e) => {
    process.stderr.write(`daemon ${String(process.pid)}: queue error: ${e.message}\n`);
  },
});

// The source ports as src/main.ts builds them (SPIRE and Kubernetes).
const servers: GrpcSpireServer[] = [];
const admin = new GrpcAgentAdmin();
const k = config.sources.kubernetes;
const [bundleNamespace = 'spire', bundleConfigMap = 'spire-bundle'] = (k?.bundleConfigMap ?? 'spire/spire-bundle').split('/');
const sourcePorts: MonitorSourcePorts = {
  spireServer: (endpoint) => {
    const s = new GrpcSpireServer({ endpoint });
    servers.push(s);
    return s;
  },
  agentDebug: admin,
  delegatedIdentity: admin,
  spireHealth: new HttpSpireHealth(),
  ...(k === undefined
    ? {}
    : {
        kubernetes: new KubernetesInventory({
          connection: k.server === undefined ? { kind: 'default' } : { kind: 'server', server: k.server },
          spireNamespace: k.spireNamespace,
          bundleNamespace,
          bundleConfigMap,
          ...(config.sources.spire === undefined ? {} : { trustDomain: config.sources.spire.trustDomain }),
        }),
      }),
};

const daemon = new Daemon({
  config,
  store,
  audit,
  queue,
  envoy: new EnvoyAdminHttp(),
  metrics: new PromMetrics(),
  clock: systemClock,
  log,
  playbooks: () => opts.playbooks,
  serveHttp: false,
  sourcePorts,
  notifier: new WebhookNotifier(),
});
await daemon.start();
process.once('SIGTERM', () => {
  void (async () => {
    await daemon.stop(2_000);
    for (const s of servers) s.close();
    await conn.quit();
    process.exit(0);
  })();
});
process.stdout.write('ready\n');
