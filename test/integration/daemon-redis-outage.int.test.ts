/**
 * The daemon through a Redis outage, wired by the composition root (main.ts): /livez stays 200,
 * /readyz turns 503 with the reason while Redis is away and 200 again once it is back, the outage
 * is logged once (not per reconnect attempt or command), and a shutdown during an outage ends.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { composition } from '../../src/main.js';
import { startRedisServer, type RedisServerHandle } from '../../src/adapters/redis/redis-server-process.js';
import { defaultConfig, type DaemonConfig } from '../../src/runtime/config.js';
import { uniquePrefix } from '../support/redis.js';

async function waitFor<T>(what: string, fn: () => Promise<T | null | undefined | false>, timeoutMs = 20_000): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = await fn();
    if (v !== null && v !== undefined && v !== false) return v;
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

interface Probe {
  readonly status: number;
  readonly body: Record<string, unknown>;
}

describe('daemon during a Redis outage', () => {
  it('stays live, is not ready while Redis is away, says so once, resumes, and stops during an outage', { timeout: 120_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'spire-healer-outage-'));
    let server: RedisServerHandle = await startRedisServer({ appendOnlyDir: dir });
    const lines: { msg: string }[] = [];
    const log = pino(
      { level: 'info' },
      new Writable({
        write(chunk: Buffer, _enc, cb) {
          for (const l of chunk
            .toString()
            .split('\n')
            .filter((x) => x !== ''))
            lines.push(JSON.parse(l) as { msg: string });
          cb();
        },
      }),
    );
    const base = defaultConfig();
    const config: DaemonConfig = {
      ...base,
      redis: { url: server.url, keyPrefix: uniquePrefix('outage') },
      http: { listen: '127.0.0.1:0' },
      intervals: { monitorMs: 200, analyzeMs: 200, planMs: 200, maxBackoffMs: 1_000 },
    };
    const d = await composition.createDaemon(config, { log, serveHttp: true });
    try {
      await d.daemon.start();
      const port = d.daemon.httpAddress?.port;
      const get = async (path: string): Promise<Probe> => {
        const res = await fetch(`http://127.0.0.1:${String(port)}${path}`);
        return { status: res.status, body: (await res.json()) as Record<string, unknown> };
      };
      await waitFor('/readyz 200', async () => (await get('/readyz')).status === 200);
      assert.equal((await get('/livez')).status, 200);

      await server.stop();
      const notReady = await waitFor('/readyz 503', async () => {
        const r = await get('/readyz');
        return r.status === 503 ? r : null;
      });
      assert.match((notReady.body['reasons'] as string[]).join('; '), /redis unreachable since/);
      // Redis stays away a while: many reconnect attempts, passes waiting; liveness is unaffected.
      for (let i = 0; i < 5; i++) {
        assert.equal((await get('/livez')).status, 200, '/livez while Redis is away');
        assert.equal((await get('/readyz')).status, 503, '/readyz while Redis is away');
        await sleep(400);
      }
      const health = await get('/healthz');
      assert.equal(health.status, 200, '/healthz keeps its meaning: every stage actor runs');
      assert.equal((health.body['detail'] as { redis: { reachable: boolean } }).redis.reachable, false);
      assert.equal(lines.filter((l) => l.msg.startsWith('redis unreachable')).length, 1, 'one log line for the outage');

      server = await startRedisServer({ port: server.port, appendOnlyDir: dir });
      await waitFor('/readyz 200 after the restart', async () => (await get('/readyz')).status === 200, 15_000);
      assert.equal(lines.filter((l) => l.msg.startsWith('redis reachable again')).length, 1);

      // A shutdown while Redis is away again still ends (bounded waits, no QUIT that never returns).
      await server.stop();
      await waitFor('/readyz 503 again', async () => (await get('/readyz')).status === 503);
      const stopped = await Promise.race([
        (async () => {
          await d.daemon.stop(1_000);
          await d.close();
          return true;
        })(),
        sleep(30_000, false, { ref: false }),
      ]);
      assert.equal(stopped, true, `stop() and close() end while Redis is away ${lines.map((l) => JSON.stringify(l)).join('\n')}`);
    } finally {
      await d.daemon.stop(1_000);
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
