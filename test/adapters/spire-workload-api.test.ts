import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { GrpcWorkloadApi } from '../../src/adapters/spire/workload-api.client.js';
import type { SpireFailure, WorkloadX509SvidUpdate, X509BundlesUpdate } from '../../src/ports/spire.port.js';
import { FakeSpireAgent } from '../../src/sim/spire/fake-spire-agent.js';
import { makeSocketDir, removeDir } from '../../src/sim/spire/grpc-endpoint.js';
import { SimWorld } from '../../src/sim/world.js';

const T0 = Date.UTC(2025, 0, 1, 12, 0, 0);
const TTL = 10_000;
const FAST = { initialBackoffMs: 20, maxBackoffMs: 100 };

/** Collects updates and failures of a watch; `next*` wait for the next one. */
function recorder<T>() {
  const updates: T[] = [];
  const failures: { f: SpireFailure; retry: number | null }[] = [];
  const waiters: (() => void)[] = [];
  const wake = (): void => {
    waiters.splice(0).forEach((w) => {
      w();
    });
  };
  const waitFor = async (pred: () => boolean, what: string): Promise<void> => {
    const deadline = Date.now() + 5_000;
    while (!pred()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise<void>((r) => {
        waiters.push(r);
        setTimeout(r, 50);
      });
    }
  };
  return {
    updates,
    failures,
    handlers: {
      onUpdate: (u: T) => {
        updates.push(u);
        wake();
      },
      onError: (f: SpireFailure, retry: number | null) => {
        failures.push({ f, retry });
        wake();
      },
    },
    nextUpdate: async (n: number) => {
      await waitFor(() => updates.length >= n, `update #${n}`);
      return updates[n - 1] as T;
    },
    nextFailure: async (n: number) => {
      await waitFor(() => failures.length >= n, `failure #${n}`);
      return failures[n - 1] as { f: SpireFailure; retry: number | null };
    },
  };
}

describe('Workload API client against the fake agent', () => {
  let now = T0;
  let world: SimWorld;
  let agent: FakeSpireAgent;
  const api = new GrpcWorkloadApi({ backoff: FAST });

  before(async () => {
    world = await SimWorld.create({ trustDomain: 'example.org', svidTtlMs: TTL, envoyRestartMs: 500, now: () => now });
    await world.addWorkload({ id: 'shop/web', spiffeId: 'spiffe://example.org/ns/shop/sa/web', platform: 'kubernetes', location: 'shop' });
    await world.addWorkload({ id: 'shop/db', spiffeId: 'spiffe://example.org/ns/shop/sa/db', platform: 'kubernetes', location: 'shop' });
    agent = new FakeSpireAgent({ world, pollMs: 0, health: false });
    await agent.start();
  });
  after(async () => {
    await agent.dispose();
  });

  it('first message is the full state: every SVID with parsed chain, own bundle and key present', async () => {
    const u = await api.fetchX509Svids(agent.publicEndpoint);
    assert.deepEqual(u.svids.map((s) => s.spiffeId).sort(), ['spiffe://example.org/ns/shop/sa/db', 'spiffe://example.org/ns/shop/sa/web']);
    const web = u.svids.find((s) => s.spiffeId.endsWith('/web'));
    assert.equal(web?.chain[0]?.serialHex, world.agentSvid('shop/web').serialHex);
    assert.deepEqual(web.chain[0].uriSans, ['spiffe://example.org/ns/shop/sa/web']);
    assert.equal(web.chain[0].notAfterMs, world.agentSvid('shop/web').notAfterMs);
    assert.equal(web.bundle.length, 1);
    assert.equal(web.bundle[0]?.isCa, true);
    assert.equal(web.hasKey, true);
  });

  it('pushes the full state again when the agent rotates, and redacts an SVID that is no longer issued', async () => {
    const rec = recorder<WorkloadX509SvidUpdate>();
    const w = api.watchX509Svids(agent.publicEndpoint, rec.handlers);
    try {
      const first = await rec.nextUpdate(1);
      const oldSerial = first.svids.find((s) => s.spiffeId.endsWith('/web'))?.chain[0]?.serialHex;
      now += TTL / 2;
      await world.tick();
      await agent.notify();
      const second = await rec.nextUpdate(2);
      assert.equal(second.svids.length, 2, 'a rotation message still lists every SVID');
      const newSerial = second.svids.find((s) => s.spiffeId.endsWith('/web'))?.chain[0]?.serialHex;
      assert.notEqual(newSerial, oldSerial);
      assert.equal(newSerial, world.agentSvid('shop/web').serialHex);

      await agent.attestCallersAs(['shop/web']);
      const third = await rec.nextUpdate(3);
      assert.deepEqual(
        third.svids.map((s) => s.spiffeId),
        ['spiffe://example.org/ns/shop/sa/web'],
        'db SVID is gone from the full state',
      );
      await agent.notify();
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(rec.updates.length, 3, 'no message when nothing changed');
      assert.equal(rec.failures.length, 0);
    } finally {
      w.close();
      await agent.attestCallersAs('all');
    }
  });

  it('no identity → PermissionDenied "no identity issued", retried with backoff; recovers when issued', async () => {
    await agent.attestCallersAs([]);
    const rec = recorder<WorkloadX509SvidUpdate>();
    const w = api.watchX509Svids(agent.publicEndpoint, rec.handlers);
    try {
      const { f, retry } = await rec.nextFailure(1);
      assert.equal(f.code, 'PERMISSION_DENIED');
      assert.equal(f.retry, 'permanent', 'permanent for a remediation job, and still the watch reconnects');
      assert.match(f.message, /no identity issued/);
      assert.match(f.message, /SpiffeWorkloadAPI\/FetchX509SVID/);
      assert.ok(f.message.includes(agent.publicEndpoint));
      assert.equal(retry, FAST.initialBackoffMs);
      await agent.attestCallersAs('all');
      const u = await rec.nextUpdate(1);
      assert.equal(u.svids.length, 2);
    } finally {
      w.close();
      await agent.attestCallersAs('all');
    }
  });

  it('agent down: reports UNAVAILABLE with backoff, reconnects when the agent is back', async () => {
    const rec = recorder<WorkloadX509SvidUpdate>();
    const w = api.watchX509Svids(agent.publicEndpoint, rec.handlers);
    try {
      await rec.nextUpdate(1);
      await agent.stop();
      const { f, retry } = await rec.nextFailure(1);
      assert.ok(['UNAVAILABLE', 'STREAM_ENDED', 'CANCELLED'].includes(f.code), f.message);
      assert.notEqual(retry, null);
      await rec.nextFailure(2);
      assert.equal(rec.failures[1]?.f.code, 'UNAVAILABLE', 'socket gone → Unavailable');
      await agent.start();
      const u = await rec.nextUpdate(2);
      assert.equal(u.svids.length, 2);
    } finally {
      w.close();
      await agent.start();
    }
  });

  it('honours SPIFFE_ENDPOINT_SOCKET when no endpoint is given', async () => {
    const viaEnv = new GrpcWorkloadApi({ env: { SPIFFE_ENDPOINT_SOCKET: agent.publicEndpoint } });
    const u = await viaEnv.fetchX509Svids();
    assert.equal(u.svids.length, 2);
    const none = new GrpcWorkloadApi({ env: {} });
    await assert.rejects(
      none.fetchX509Svids(),
      (e: SpireFailure) => e.code === 'BAD_ENDPOINT' && /SPIFFE_ENDPOINT_SOCKET is not set/.test(e.message),
    );
  });

  it('streams FetchX509Bundles keyed by trust-domain ID', async () => {
    const rec = recorder<X509BundlesUpdate>();
    const w = api.watchX509Bundles(agent.publicEndpoint, rec.handlers);
    try {
      const u = await rec.nextUpdate(1);
      assert.deepEqual(Object.keys(u.bundles), ['spiffe://example.org']);
      assert.equal(u.bundles['spiffe://example.org']?.[0]?.serialHex, world.ca.cert.serialHex);
    } finally {
      w.close();
    }
  });

  it('missing socket → UNAVAILABLE naming the endpoint and RPC', async () => {
    const dir = makeSocketDir();
    try {
      const endpoint = `unix://${join(dir, 'nope.sock')}`;
      await assert.rejects(api.fetchX509Svids(endpoint), (e: SpireFailure) => {
        assert.equal(e.code, 'UNAVAILABLE');
        assert.ok(e.message.startsWith(`${endpoint} SpiffeWorkloadAPI/FetchX509SVID: UNAVAILABLE`), e.message);
        assert.equal(e.retry, 'retryable');
        return true;
      });
    } finally {
      removeDir(dir);
    }
  });

  it('a malformed endpoint is permanent for execute, yet a watch keeps retrying it with capped backoff', async () => {
    const rec = recorder<WorkloadX509SvidUpdate>();
    const w = api.watchX509Svids('unix://relative/path', rec.handlers);
    try {
      const { f, retry } = await rec.nextFailure(1);
      assert.equal(f.code, 'BAD_ENDPOINT');
      assert.equal(f.retry, 'permanent');
      assert.equal(retry, FAST.initialBackoffMs);
      const second = await rec.nextFailure(2);
      assert.equal(second.f.code, 'BAD_ENDPOINT');
      assert.ok(second.retry !== null && second.retry > FAST.initialBackoffMs && second.retry <= FAST.maxBackoffMs, String(second.retry));
    } finally {
      w.close();
    }
  });

  it('no SPIFFE_ENDPOINT_SOCKET: a watch reports BAD_ENDPOINT and tries again (the variable is read on every reconnect)', async () => {
    const env: NodeJS.ProcessEnv = {};
    const rec = recorder<WorkloadX509SvidUpdate>();
    const w = new GrpcWorkloadApi({ env, backoff: FAST }).watchX509Svids(undefined, rec.handlers);
    try {
      const { f, retry } = await rec.nextFailure(1);
      assert.equal(f.code, 'BAD_ENDPOINT');
      assert.match(f.message, /SPIFFE_ENDPOINT_SOCKET is not set/);
      assert.notEqual(retry, null);
      env.SPIFFE_ENDPOINT_SOCKET = agent.publicEndpoint;
      const u = await rec.nextUpdate(1);
      assert.equal(u.svids.length, 2);
    } finally {
      w.close();
    }
  });
});
