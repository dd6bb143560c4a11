/**
 * Redis for tests: every test run starts its own `redis-server` on a free loopback port (never the
 * machine's Redis on 6379, never a mock), and every test works under its own key prefix.
 */
import { randomUUID } from 'node:crypto';
import { after, before } from 'node:test';
import { Redis, type RedisOptions } from 'ioredis';
import { startRedisServer } from '../../src/adapters/redis/redis-server-process.js';

/** A running throwaway redis-server for one test file. */
export interface TestRedis {
  readonly url: string;
  readonly port: number;
  stop(): Promise<void>;
}

/** Starts a private redis-server (rejects with RedisServerMissingError, naming the fix, when it is not installed). */
export async function startTestRedis(): Promise<TestRedis> {
  return startRedisServer();
}

/** A fresh key prefix, so tests sharing one Redis never see each other's keys. */
export function uniquePrefix(label = 't'): string {
  return `${label}-${randomUUID()}`;
}

/** Connection options for tests (ioredis' RedisOptions minus replyMapping, which its overloads type strictly). */
export type TestConnectionOptions = Omit<RedisOptions, 'replyMapping'>;

/** What withRedis() hands a suite: valid once its `before` hook has run. */
export interface RedisFixture {
  readonly url: string;
  readonly port: number;
  /** A new connection, quit automatically after the suite. */
  connect(opts?: TestConnectionOptions): Redis;
}

/**
 * Registers before/after hooks in the current describe(): starts a redis-server before the suite,
 * and after it quits every connection made through `connect()` and stops the server.
 */
export function withRedis(): RedisFixture {
  let server: TestRedis | null = null;
  const conns: Redis[] = [];
  const running = (): TestRedis => {
    if (server === null) throw new Error('withRedis: used before the suite started (call it inside describe, use it inside it)');
    return server;
  };
  before(async () => {
    server = await startTestRedis();
  });
  after(async () => {
    await Promise.allSettled(conns.map((c) => c.quit()));
    await server?.stop();
  });
  return {
    get url() {
      return running().url;
    },
    get port() {
      return running().port;
    },
    connect(opts: TestConnectionOptions = {}) {
      const c = new Redis(running().url, opts);
      conns.push(c);
      return c;
    },
  };
}
