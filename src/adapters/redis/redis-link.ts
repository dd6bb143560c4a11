import type { Redis } from 'ioredis';
import { errorMessage } from '../../knowledge/error-text.js';

/** Whether a Redis connection is usable now, since when, and the last error it reported. */
export interface RedisLinkState {
  readonly reachable: boolean;
  /** When `reachable` last changed (epoch ms). */
  readonly since: number;
  readonly lastError: string | null;
}

/** A change of a link's reachability: `down` once per outage, `up` when it is usable again. */
export type RedisLinkChange =
  { readonly kind: 'down'; readonly error: string | null } | { readonly kind: 'up'; readonly downForMs: number };

/**
 * Follows one ioredis connection's reachability from its events: down on the first `close` or
 * `error` after it was ready (one change per outage, however many reconnect attempts fail), up on
 * `ready`. Listening to `error` also keeps ioredis from printing "Unhandled error event" for every
 * reconnect attempt. The connection itself keeps reconnecting (ioredis' retryStrategy).
 */
export class RedisLink {
  private reachable: boolean;
  private since: number;
  private lastError: string | null = null;
  private readonly listeners: ((c: RedisLinkChange) => void)[] = [];

  constructor(
    redis: Redis,
    private readonly now: () => number = Date.now,
  ) {
    this.reachable = redis.status === 'ready';
    this.since = now();
    redis.on('ready', () => {
      if (this.reachable) return;
      const downForMs = this.now() - this.since;
      this.reachable = true;
      this.since = this.now();
      this.emit({ kind: 'up', downForMs });
    });
    redis.on('error', (e: unknown) => {
      this.lastError = errorMessage(e);
      this.markDown();
    });
    redis.on('close', () => {
      this.markDown();
    });
  }

  state(): RedisLinkState {
    return { reachable: this.reachable, since: this.since, lastError: this.lastError };
  }

  /** Calls `listener` on every change (not for the current state). */
  onChange(listener: (c: RedisLinkChange) => void): void {
    this.listeners.push(listener);
  }

  private markDown(): void {
    if (!this.reachable) return;
    this.reachable = false;
    this.since = this.now();
    this.emit({ kind: 'down', error: this.lastError });
  }

  private emit(c: RedisLinkChange): void {
    for (const l of this.listeners) l(c);
  }
}

/**
 * Closes `redis` politely (QUIT, after the commands already sent) if Redis answers within
 * `graceMs`, else drops the connection: a shutdown during an outage must not wait for Redis.
 */
export async function quitWithin(redis: Redis, graceMs: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, graceMs);
  });
  try {
    await Promise.race([
      redis.quit().then(
        () => undefined,
        () => undefined,
      ),
      late,
    ]);
  } finally {
    clearTimeout(timer);
    if (redis.status !== 'end') redis.disconnect();
  }
}
