/**
 * Composition root: the one place that constructs adapters (vendor SDKs) and hands them to the
 * runtime and the stages. No other module both builds adapters and runs stages.
 *
 * Adapters, the daemon and the simulator are imported inside the functions that build them: a
 * command loads only what it uses (`--help` loads none of it, `run` never loads src/sim). Keep it
 * that way: a static import here would load for every command (test/build/startup-imports.test.ts).
 */
import type { ComposedDaemon, Composition, OpenedKnowledge, RedisHandle } from './cli/composition.js';
import { CliError } from './cli/exit-codes.js';
import { runCli } from './cli/program.js';
import type { DaemonConfig, SourcesConfig } from './runtime/config.js';
import type { MonitorSourcePorts } from './runtime/monitor-sources.js';
import type { Logger } from './runtime/logger.js';
import type { StartFleet } from './runtime/simulated-fleet.js';
import type { RedisLink } from './adapters/redis/redis-link.js';

async function openKnowledge(redisUrl: string, keyPrefix: string): Promise<OpenedKnowledge> {
  return connectKnowledge(redisUrl, keyPrefix, { waitForRedis: false });
}

/**
 * Knowledge on one Redis connection. A command (`status`, `audit`…) fails after 3 reconnect
 * attempts; the daemon's connection (`waitForRedis`) instead holds its commands while Redis is
 * away and sends them when it is back (ioredis' offline queue, no per-command retry limit), so a
 * Redis restart or failover pauses the stages instead of failing them, and nothing is lost.
 */
async function connectKnowledge(
  redisUrl: string,
  keyPrefix: string,
  opts: { readonly waitForRedis: boolean },
): Promise<OpenedKnowledge & { readonly link: RedisLink }> {
  const { Redis } = await import('ioredis');
  const { RedisKnowledgeStore } = await import('./adapters/redis/redis-knowledge-store.js');
  const { RedisAuditLog } = await import('./adapters/redis/redis-audit-log.js');
  const { errorMessage } = await import('./knowledge/error-text.js');
  const { RedisLink, quitWithin } = await import('./adapters/redis/redis-link.js');
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: opts.waitForRedis ? null : 3, lazyConnect: true });
  try {
    await redis.connect();
  } catch (e) {
    redis.disconnect();
    throw new CliError(`cannot connect to Redis at ${redisUrl}: ${errorMessage(e)}`, 1);
  }
  return {
    store: new RedisKnowledgeStore(redis, keyPrefix),
    audit: new RedisAuditLog(redis, keyPrefix),
    link: new RedisLink(redis),
    close: async () => {
      await quitWithin(redis, 2_000);
    },
  };
}

/** Adapters for the configured monitor sources, and how to close them. */
async function buildSourcePorts(sources: SourcesConfig): Promise<{ ports: MonitorSourcePorts; close: () => Promise<void> }> {
  const [{ GrpcAgentAdmin }, { GrpcSpireServer }, { HttpSpireHealth }] = await Promise.all([
    import('./adapters/spire/agent-admin.client.js'),
    import('./adapters/spire/spire-server.client.js'),
    import('./adapters/spire/spire-health.client.js'),
  ]);
  const closers: (() => Promise<void> | void)[] = [];
  const admin = new GrpcAgentAdmin();
  const spireServer = (endpoint: string): InstanceType<typeof GrpcSpireServer> => {
    const s = new GrpcSpireServer({ endpoint });
    closers.push(() => {
      s.close();
    });
    return s;
  };
  const k = sources.kubernetes;
  let kubernetes: MonitorSourcePorts['kubernetes'];
  if (k !== undefined) {
    const { KubernetesInventory } = await import('./adapters/kubernetes/kubernetes-inventory.js');
    const [bundleNs = 'spire', bundleName = 'spire-bundle'] = k.bundleConfigMap.split('/');
    kubernetes = new KubernetesInventory({
      connection: k.server === undefined ? { kind: 'default' } : { kind: 'server', server: k.server },
      spireNamespace: k.spireNamespace,
      bundleNamespace: bundleNs,
      bundleConfigMap: bundleName,
      ...(sources.spire === undefined ? {} : { trustDomain: sources.spire.trustDomain }),
    });
  }
  const run = sources.cloudRun;
  let cloudRun: MonitorSourcePorts['cloudRun'];
  let secretStore: MonitorSourcePorts['secretStore'];
  if (run !== undefined) {
    const { CloudRunAdminClient } = await import('./adapters/cloudrun/cloudrun-admin.client.js');
    const { SecretManagerClient } = await import('./adapters/secretmanager/secret-manager.client.js');
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
  const [
    { ConfigError },
    { playbookPaths, readPlaybookFiles },
    { PlaybookReloader },
    { Daemon },
    { systemClock },
    { BullmqRemediationQueue },
    { EnvoyAdminHttp },
    { PromMetrics },
    { WebhookNotifier },
  ] = await Promise.all([
    import('./runtime/config.js'),
    import('./runtime/playbook-loader.js'),
    import('./runtime/playbook-reloader.js'),
    import('./runtime/daemon.js'),
    import('./knowledge/clock.js'),
    import('./adapters/queue/bullmq-remediation-queue.js'),
    import('./adapters/envoy/admin-http.js'),
    import('./adapters/metrics/prom-metrics.js'),
    import('./adapters/webhook/webhook-notifier.js'),
  ]);
  const paths = playbookPaths(config.playbooks);
  const files = await readPlaybookFiles(paths);
  if (files.problems.length > 0) throw new ConfigError(files.problems.join('\n'));
  const k = await connectKnowledge(url, config.redis.keyPrefix, { waitForRedis: true });
  const reloader = new PlaybookReloader(paths, files.playbooks, files.texts, { audit: k.audit, clock: systemClock, log: opts.log });
  const queue = new BullmqRemediationQueue({
    redisUrl: url,
    keyPrefix: config.redis.keyPrefix,
    onError: (err) => {
      opts.log.warn({ err: err.message }, 'queue connection error');
    },
  });
  const sources = await buildSourcePorts(config.sources);
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
    redisLink: k.link,
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
  const { RedisServerMissingError, startRedisServer } = await import('./adapters/redis/redis-server-process.js');
  try {
    const server = await startRedisServer();
    return { url: server.url, throwaway: true, stop: () => server.stop() };
  } catch (e) {
    if (e instanceof RedisServerMissingError) throw new CliError(e.message);
    throw e;
  }
}

async function wipePrefix(redisUrl: string, keyPrefix: string): Promise<number> {
  const { Redis } = await import('ioredis');
  const { wipeKeyPrefix } = await import('./adapters/redis/wipe-key-prefix.js');
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 3 });
  try {
    return await wipeKeyPrefix(redis, keyPrefix);
  } finally {
    await redis.quit();
  }
}

/** The simulated fleet (src/sim): loaded by `demo` and `simulate` only. */
const startFleet: StartFleet = async (scenario) => {
  const { startSimulatedFleet } = await import('./sim/simulated-fleet.js');
  return startSimulatedFleet(scenario);
};

/** The composition handed to the CLI. */
export const composition: Composition = { openKnowledge, createDaemon, acquireRedis, wipePrefix, startFleet };

/** CLI entry: returns the process exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  return runCli(argv, composition);
}
