/**
 * A monitor stream never parks on a failure execute would call permanent: a Delegated Identity
 * stream whose agent answers PermissionDenied "no identity issued" (the workload's registration is
 * still propagating) records each failure as an observation and reconnects with backoff until the
 * agent issues the identity.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { RedisAuditLog } from '../../src/adapters/redis/redis-audit-log.js';
import { RedisKnowledgeStore } from '../../src/adapters/redis/redis-knowledge-store.js';
import { SpireApiError } from '../../src/adapters/spire/spire-error.js';
import { retryClassOf } from '../../src/knowledge/errors/classified-error.js';
import { DelegatedSvidStreams } from '../../src/monitor/delegated-svid-streams.js';
import type { DelegatedIdentityPort } from '../../src/ports/spire.port.js';
import { uniquePrefix, withRedis } from '../support/redis.js';

async function until<T>(what: string, f: () => Promise<T | null>, timeoutMs = 5_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await f();
    if (v !== null) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('monitor streams and permanent failures', () => {
  const redis = withRedis();

  it('PermissionDenied on a Delegated Identity stream: recorded as a probe error, retried with backoff, recovers when issued', async () => {
    const conn = redis.connect();
    const prefix = uniquePrefix('denied');
    const store = new RedisKnowledgeStore(conn, prefix);
    const audit = new RedisAuditLog(conn, prefix);
    const denials = 3;
    let calls = 0;
    // The agent's side, call by call: the first `denials` subscriptions are refused, then the identity is issued.
    const port: DelegatedIdentityPort = {
      watchX509Svids(adminEndpoint, _selectors, handlers) {
        calls++;
        const n = calls;
        const timer = setTimeout(() => {
          if (n <= denials) {
            handlers.onError(
              new SpireApiError(adminEndpoint, 'DelegatedIdentity/SubscribeToX509SVIDs', 'PERMISSION_DENIED', 'no identity issued'),
              10,
            );
          } else handlers.onUpdate({ svids: [], federatesWith: [], receivedAtMs: Date.now() });
        }, 5);
        return {
          close: () => {
            clearTimeout(timer);
          },
        };
      },
      watchX509Bundles() {
        throw new Error('not used');
      },
    };
    const streams = new DelegatedSvidStreams({
      store,
      audit,
      port,
      clock: { now: () => Date.now() },
      retryMs: 10,
      maxBackoffMs: 40,
      onRecordError: (err) => {
        throw err;
      },
    });
    streams.sync([
      {
        workloadId: 'shop/web-0',
        spiffeId: 'spiffe://example.org/ns/shop/sa/web',
        node: 'node-0',
        adminEndpoint: 'unix:///run/spire/admin.sock',
        selectors: [{ type: 'k8s', value: 'ns:shop' }],
      },
    ]);
    try {
      const failed = await until('the first failure recorded', async () => {
        const o = await store.latestObservation('shop/web-0', 'spire.delegated.svid');
        return o?.data.kind === 'probe.error' ? o.data : null;
      });
      assert.match(failed.error, /PERMISSION_DENIED: no identity issued/);
      assert.equal(
        retryClassOf(new SpireApiError('x', 'y', 'PERMISSION_DENIED', 'z')),
        'permanent',
        'the class execute would read is permanent, and the monitor reconnects anyway',
      );
      await until('the stream to recover', async () => {
        const o = await store.latestObservation('shop/web-0', 'spire.delegated.svid');
        return o?.data.kind === 'spire.svid' ? o : null;
      });
      assert.equal(calls, denials + 1, 'one reconnect after each refusal');
      assert.match(streams.states()['shop/web-0'] ?? '', /streaming/);
      const trail = await audit.list();
      assert.ok(trail.some((e) => e.type === 'observation.failed' && e.subject === 'shop/web-0'));
      assert.equal(trail.at(-1)?.type, 'observation.changed', 'the recovery is audited last');
    } finally {
      streams.stop();
    }
  });
});
