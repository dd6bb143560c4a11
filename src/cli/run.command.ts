import { loadConfig } from '../runtime/config.js';
import { createLogger } from '../runtime/logger.js';
import { loadPlaybooks } from '../runtime/playbook-loader.js';
import type { Composition } from './composition.js';
import { CliError, EXIT_OK } from './exit-codes.js';

/**
 * `run --config FILE`: the cluster daemon. Runs until SIGTERM/SIGINT, then shuts down
 * gracefully: stage loops stop, in-flight jobs finish (bounded), connections close.
 */
export async function runCommand(c: Composition, configPath: string): Promise<number> {
  const config = await loadConfig(configPath);
  await loadPlaybooks(config.playbooks); // fail fast on bad playbooks before touching anything
  const redisUrl = process.env['REDIS_URL'] ?? config.redis.url;
  if (redisUrl === undefined) throw new CliError(`${configPath}: redis.url: required for run (or set REDIS_URL)`);
  const log = createLogger();
  const composed = await c.createDaemon({ ...config, redis: { ...config.redis, url: redisUrl } }, { log, serveHttp: true });
  await composed.daemon.start();
  await new Promise<void>((resolve) => {
    const stop = (sig: string): void => {
      log.info({ signal: sig }, 'shutdown requested');
      resolve();
    };
    process.once('SIGTERM', () => {
      stop('SIGTERM');
    });
    process.once('SIGINT', () => {
      stop('SIGINT');
    });
  });
  await composed.daemon.stop();
  await composed.close();
  return EXIT_OK;
}
