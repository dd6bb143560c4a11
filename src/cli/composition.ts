import type { AuditLog } from '../knowledge/audit.js';
import type { KnowledgeStore } from '../knowledge/knowledge-store.js';
import type { DaemonConfig } from '../runtime/config.js';
import type { Daemon } from '../runtime/daemon.js';
import type { Logger } from '../runtime/logger.js';
import type { StartFleet } from '../runtime/simulated-fleet.js';

/** Knowledge opened on a Redis, for commands that only read or control it. */
export interface OpenedKnowledge {
  readonly store: KnowledgeStore;
  readonly audit: AuditLog;
  close(): Promise<void>;
}

/** A Redis to use: the user's (REDIS_URL) or a throwaway child redis-server. */
export interface RedisHandle {
  readonly url: string;
  readonly throwaway: boolean;
  stop(): Promise<void>;
}

/** A fully wired daemon plus the knowledge it uses. */
export interface ComposedDaemon {
  readonly daemon: Daemon;
  readonly store: KnowledgeStore;
  readonly audit: AuditLog;
  close(): Promise<void>;
}

/**
 * What the CLI needs from the composition root (main.ts). Commands receive this instead of
 * importing adapters, so vendor SDKs stay in src/adapters and main.ts wires everything once.
 */
export interface Composition {
  openKnowledge(redisUrl: string, keyPrefix: string): Promise<OpenedKnowledge>;
  createDaemon(config: DaemonConfig, opts: { readonly log: Logger; readonly serveHttp: boolean }): Promise<ComposedDaemon>;
  /** Uses REDIS_URL when set, else starts a throwaway redis-server (rejects with install advice if missing). */
  acquireRedis(): Promise<RedisHandle>;
  /** Deletes every key under the prefix (used to start a simulation namespace clean). */
  wipePrefix(redisUrl: string, keyPrefix: string): Promise<number>;
  readonly startFleet: StartFleet;
}
