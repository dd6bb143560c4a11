/**
 * Composition root: the one place that constructs adapters (vendor SDKs) and hands them to the
 * runtime and the stages. No other module both builds adapters and runs stages.
 */
import { Redis } from 'ioredis';
import { EnvoyAdminHttp } from './adapters/envoy/admin-http.js';
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
import type { DaemonConfig } from './runtime/config.js';
import { Daemon } from './runtime/daemon.js';
import type { Logger } from './runtime/logger.js';
import { loadPlaybooks } from './runtime/playbook-loader.js';
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
    close: async () => { await redis.quit(); },
  };
}

async function createDaemon(config: DaemonConfig, opts: { log: Logger; serveHttp: boolean }): Promise<ComposedDaemon> {
  const url = config.redis.url;
  if (url === undefined) throw new CliError('redis.url is not set (config file or REDIS_URL)');
  const playbooks = await loadPlaybooks(config.playbooks);
  const k = await openKnowledge(url, config.redis.keyPrefix);
  const queue = new BullmqRemediationQueue({
    redisUrl: url, keyPrefix: config.redis.keyPrefix,
    onError: (err) => { opts.log.warn({ err: err.message }, 'queue connection error'); },
  });
  const daemon = new Daemon({
    config, store: k.store, audit: k.audit, queue, envoy: new EnvoyAdminHttp(), metrics: new PromMetrics(),
    clock: systemClock, log: opts.log, playbooks, serveHttp: opts.serveHttp,
  });
  return { daemon, store: k.store, audit: k.audit, close: () => k.close() };
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
