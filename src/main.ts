/**
 * Composition root: the one place that constructs adapters (vendor SDKs) and hands them to the
 * runtime and the stages. No other module both builds adapters and runs stages.
 */
import { Redis } from 'ioredis';
import { CloudRunAdminClient } from './adapters/cloudrun/cloudrun-admin.client.js';
import { SecretManagerClient } from './adapters/secretmanager/secret-manager.client.js';
import { EnvoyAdminHttp } from './adapters/envoy/admin-http.js';
import { KubernetesInventory } from './adapters/kubernetes/kubernetes-inventory.js';
import { GrpcAgentAdmin } from './adapters/spire/agent-admin.client.js';
import { HttpSpireHealth } from './adapters/spire/spire-health.client.js';
import { GrpcSpireServer } from './adapters/spire/spire-server.client.js';
import { PromMetrics } from './adapters/metrics/prom-metrics.js';
import { BullmqRemediationQueue } from './adapters/queue/bullmq-remediation-queue.js';
import { RedisAuditLog } from './adapters/redis/redis-audit-log.js';
import { RedisKnowledgeStore } from './adapters/redis/redis-knowledge-store.js';
import { RedisServerMissingError, startRedisServer } from './adapters/redis/redis-server-process.js';
import { wipeKeyPrefix } from './adapters/redis/wipe-key-prefix.js';
import type { ComposedDaemon, Composition, OpenedKnowledge, RedisHandle } from './cli/composition.js';
import { CliError } from './cli/exit-codes.js';
import { runCli } from './cli/program.js';
import { systemClock } from './knowledge/clock.js';
import { ConfigError, type DaemonConfig, type SourcesConfig } from './runtime/config.js';
import type { MonitorSourcePorts } from './runtime/monitor-sources.js';
import { Daemon } from './runtime/daemon.js';
import type { Logger } from './runtime/logger.js';
import { playbookPaths, readPlaybookFiles } from './runtime/playbook-loader.js';
import { PlaybookReloader } from './runtime/playbook-reloader.js';
import { WebhookNotifier } from './adapters/webhook/webhook-notifier.js';
import { startSimulatedFleet } from './sim/simulated-fleet.js';

async function openKnowledge(redisUrl: string, keyPrefix: string): Promise<OpenedKnowledge> {
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 3, lazyConnect: true });
  try {
    await redis.connect();
  } catch (e) {
    redis.disconnect();
    throw new CliError(`cannot connect to Redis at ${redisUrl}: ${e instanceof Error ? e.message : String(e)}`, 1);
  }
  return {
    store: new RedisKnowledgeStore(redis, keyPrefix),
    audit: new RedisAuditLog(redis, keyPrefix),
    close: async () => {
      await redis.quit();
    },
  };
}

/** Adapters for the configured monitor sources, and how to close them. */
function buildSourcePorts(sources: SourcesConfig): { ports: MonitorSourcePorts; close: () => Promise<void> } {
  const closers: (() => Promise<void> | void)[] = [];
  const admin = new GrpcAgentAdmin();
  const spireServer = (endpoint: string): GrpcSpireServer => {
    const s = new GrpcSpireServer({ endpoint });
    closers.push(() => {
      s.close();
    });
    return s;
  };
  const k = sources.kubernetes;
  const [bundleNs = 'spire', bundleName = 'spire-bundle'] = (k?.bundleConfigMap ?? 'spire/spire-bundle').split('/');
  const kubernetes =
    k === undefined
      ? undefined
      : new KubernetesInventory({
          connection: k.server === undefined ? { kind: 'default' } : { kind: 'server', server: k.server },
          spireNamespace: k.spireNamespace,
          bundleNamespace: bundleNs,
          bundleConfigMap: bundleName,
          ...(sources.spire === undefined ? {} : { trustDomain: sources.spire.trustDomain }),
        });
  const run = sources.cloudRun;
  let cloudRun: CloudRunAdminClient | undefined;
  let secretStore: SecretManagerClient | undefined;
  if (run !== undefined) {
    const hostPort = (endpoint: string | undefined): { apiEndpoint?: string; port?: number } =>
      endpoint === undefined
        ? {}
        : { apiEndpoint: endpoint.slice(0, endpoint.lastIndexOf(':')), port: Number(endpoint.slice(endpoint.lastIndexOf(':') + 1)) };
    const client = new CloudRunAdminClient({ ...hostPort(run.endpoint), insecure: run.insecure });
    closers.push(() => client.close());
    cloudRun = client;
    const secrets = new SecretManagerClient({ ...hostPort(run.secretManagerEndpoint), insecure: run.insecure });
    closers.push(() => secrets.close());
    secretStore = secrets;
  }
  return {
    ports: {
      spireServer,
      agentDebug: admin,
      delegatedIdentity: admin,
      spireHealth: new HttpSpireHealth(),
      ...(kubernetes === undefined ? {} : { kubernetes }),
      ...(cloudRun === undefined ? {} : { cloudRun }),
      ...(secretStore === undefined ? {} : { secretStore }),
    },
    close: async () => {
      for (const c of closers) await c();
    },
  };
}

async function createDaemon(config: DaemonConfig, opts: { log: Logger; serveHttp: boolean }): Promise<ComposedDaemon> {
  const url = config.redis.url;
  if (url === undefined) throw new CliError('redis.url is not set (config file or REDIS_URL)');
  const paths = playbookPaths(config.playbooks);
  const files = await readPlaybookFiles(paths);
  if (files.problems.length > 0) throw new ConfigError(files.problems.join('\n'));
  const k = await openKnowledge(url, config.redis.keyPrefix);
  const reloader = new PlaybookReloader(paths, files.playbooks, files.texts, { audit: k.audit, clock: systemClock, log: opts.log });
  const queue = new BullmqRemediationQueue({
    redisUrl: url,
    keyPrefix: config.redis.keyPrefix,
    onError: (err) => {
      opts.log.warn({ err: err.message }, 'queue connection error');
    },
  });
  const sources = buildSourcePorts(config.sources);
  const daemon = new Daemon({
    config,
    store: k.store,
    audit: k.audit,
    queue,
    envoy: new EnvoyAdminHttp(),
    metrics: new PromMetrics(),
    clock: systemClock,
    log: opts.log,
    playbooks: () => reloader.playbooks(),
    playbookReloader: reloader,
    serveHttp: opts.serveHttp,
    sourcePorts: sources.ports,
    notifier: new WebhookNotifier(),
  });
  return {
    daemon,
    store: k.store,
    audit: k.audit,
    close: async () => {
      await sources.close();
      await k.close();
    },
  };
}

async function acquireRedis(): Promise<RedisHandle> {
  const url = process.env['REDIS_URL'];
  if (url !== undefined && url !== '') return { url, throwaway: false, stop: () => Promise.resolve() };
  try {
    const server = await startRedisServer();
    return { url: server.url, throwaway: true, stop: () => server.stop() };
  } catch (e) {
    if (e instanceof RedisServerMissingError) throw new CliError(e.message);
    throw e;
  }
}

async function wipePrefix(redisUrl: string, keyPrefix: string): Promise<number> {
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 3 });
  try {
    return await wipeKeyPrefix(redis, keyPrefix);
  } finally {
    await redis.quit();
  }
}

/** The composition handed to the CLI. */
export const composition: Composition = { openKnowledge, createDaemon, acquireRedis, wipePrefix, startFleet: startSimulatedFleet };

/** CLI entry: returns the process exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  return runCli(argv, composition);
}
