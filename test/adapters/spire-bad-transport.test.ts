import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer as createHttp1 } from 'node:http';
import { createServer as createHttp2, type Http2Server, type ServerHttp2Stream } from 'node:http2';
import { connect, createServer as createNet, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { GrpcAgentAdmin } from '../../src/adapters/spire/agent-admin.client.js';
import { GrpcSpireServer } from '../../src/adapters/spire/spire-server.client.js';
import { GrpcWorkloadApi } from '../../src/adapters/spire/workload-api.client.js';
import type { Closable, DelegatedX509SvidsUpdate, SpireFailure, WatchHandlers } from '../../src/ports/spire.port.js';
import { FakeSpireAgent, workloadSelectors } from '../../src/sim/spire/fake-spire-agent.js';
import { makeSocketDir, removeDir } from '../../src/sim/spire/grpc-endpoint.js';
import { WatchRecorder } from '../support/watch-recorder.js';
import { SimWorld, type SimWorkload } from '../../src/sim/world.js';

const FAST = { initialBackoffMs: 10, maxBackoffMs: 50 };

/** An HTTP/2 server speaking gRPC framing: `respond` writes whatever it likes on the stream. */
async function grpcFramingServer(respond: (stream: ServerHttp2Stream) => void): Promise<{ server: Http2Server; endpoint: string }> {
  const server = createHttp2();
  server.on('stream', (stream) => {
    stream.on('error', () => undefined);
    respond(stream);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, endpoint: `tcp://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

/** A gRPC length-prefixed frame header announcing `length` bytes. */
const frameHeader = (length: number): Buffer => {
  const b = Buffer.alloc(5);
  b.writeUInt32BE(length, 1);
  return b;
};

/** A unix-socket proxy whose cut() destroys every open connection mid-stream (new ones still go through). */
async function cuttingProxy(listenPath: string, upstreamPath: string): Promise<{ server: NetServer; cut: () => number }> {
  const open = new Set<Socket>();
  const server = createNet((down) => {
    const up = connect(upstreamPath);
    for (const s of [down, up]) {
      open.add(s);
      s.on('error', () => undefined);
      s.on('close', () => {
        open.delete(s);
      });
    }
    down.pipe(up);
    up.pipe(down);
  });
  await new Promise<void>((r) => server.listen(listenPath, r));
  return {
    server,
    cut: () => {
      const n = open.size;
      for (const s of open) s.destroy();
      return n;
    },
  };
}

/** The first failure a watch reports (an update instead is reported as a failure of the test). */
const firstFailure = (watch: (h: WatchHandlers<unknown>) => Closable): Promise<SpireFailure> =>
  new Promise((resolve) => {
    const w = watch({
      onUpdate: () => {
        w.close();
        resolve({ code: 'UNKNOWN', message: 'unexpected update' } as SpireFailure);
      },
      onError: (f) => {
        w.close();
        resolve(f);
      },
    });
  });

describe('SPIRE clients on broken transports', () => {
  const unhandled: unknown[] = [];
  const onUnhandled = (e: unknown): void => {
    unhandled.push(e);
  };
  before(() => {
    process.on('unhandledRejection', onUnhandled);
  });
  after(() => {
    process.off('unhandledRejection', onUnhandled);
    assert.deepEqual(unhandled, [], 'no unhandled rejection');
  });

  it('an HTTP/1 server on the tcp:// address → UNAVAILABLE naming endpoint and RPC (not a hang, not a crash)', async () => {
    const h1 = createHttp1((_req, res) => {
      res.end('hello');
    });
    await new Promise<void>((r) => h1.listen(0, '127.0.0.1', r));
    const endpoint = `tcp://127.0.0.1:${(h1.address() as AddressInfo).port}`;
    const client = new GrpcSpireServer({ endpoint, timeoutMs: 3_000 });
    try {
      await assert.rejects(client.getBundle(), (e: SpireFailure) => {
        assert.equal(e.code, 'UNAVAILABLE', e.message);
        assert.ok(e.message.startsWith(`${endpoint} Bundle/GetBundle: UNAVAILABLE`), e.message);
        assert.equal(e.retry, 'retryable');
        return true;
      });
      const f = await firstFailure((h) => new GrpcWorkloadApi({ backoff: FAST }).watchX509Svids(endpoint, h));
      assert.equal(f.code, 'UNAVAILABLE', f.message);
      assert.equal(f.rpc, 'SpiffeWorkloadAPI/FetchX509SVID');
    } finally {
      client.close();
      h1.closeAllConnections();
      await new Promise<void>((r) =>
        h1.close(() => {
          r();
        }),
      );
    }
  });

  it('gRPC framing with a garbage message → INTERNAL parse failure naming endpoint and RPC', async () => {
    const { server, endpoint } = await grpcFramingServer((stream) => {
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      stream.on('wantTrailers', () => {
        stream.sendTrailers({ 'grpc-status': '0' });
      });
      stream.end(Buffer.concat([frameHeader(6), Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f])]));
    });
    try {
      const f = await firstFailure((h) =>
        new GrpcAgentAdmin({ backoff: FAST }).watchX509Svids(endpoint, [{ type: 'k8s', value: 'ns:a' }], h),
      );
      assert.equal(f.code, 'INTERNAL', f.message);
      assert.ok(f.message.startsWith(`${endpoint} DelegatedIdentity/SubscribeToX509SVIDs: INTERNAL`), f.message);
    } finally {
      server.close();
    }
  });

  it('a truncated gRPC frame then status OK: the stream ends (retried), the unary call fails, both naming endpoint and RPC', async () => {
    const { server, endpoint } = await grpcFramingServer((stream) => {
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      stream.on('wantTrailers', () => {
        stream.sendTrailers({ 'grpc-status': '0' });
      });
      stream.end(Buffer.concat([frameHeader(100), Buffer.alloc(10, 1)]));
    });
    const client = new GrpcSpireServer({ endpoint, timeoutMs: 3_000 });
    try {
      const f = await firstFailure((h) => new GrpcWorkloadApi({ backoff: FAST }).watchX509Svids(endpoint, h));
      assert.equal(f.code, 'STREAM_ENDED', f.message);
      assert.equal(f.retry, 'retryable');
      assert.ok(f.message.startsWith(`${endpoint} SpiffeWorkloadAPI/FetchX509SVID: `), f.message);
      await assert.rejects(
        client.getX509AuthorityState(),
        (e: SpireFailure) => e.rpc === 'LocalAuthority/GetX509AuthorityState' && e.endpoint === endpoint && e.message.startsWith(endpoint),
      );
    } finally {
      client.close();
      server.close();
    }
  });

  it('a connection dropped mid-message → retryable failure naming endpoint and RPC', async () => {
    const { server, endpoint } = await grpcFramingServer((stream) => {
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' });
      stream.write(Buffer.concat([frameHeader(100), Buffer.alloc(10, 1)]), () => {
        stream.session?.destroy();
      });
    });
    try {
      const f = await firstFailure((h) => new GrpcWorkloadApi({ backoff: FAST }).watchX509Svids(endpoint, h));
      assert.equal(f.code, 'UNAVAILABLE', f.message);
      assert.equal(f.retry, 'retryable');
      assert.equal(f.rpc, 'SpiffeWorkloadAPI/FetchX509SVID');
      assert.equal(f.endpoint, endpoint);
    } finally {
      server.close();
    }
  });

  describe('connection reset mid-stream between the client and a live fake agent', () => {
    const dir = makeSocketDir();
    let agent: FakeSpireAgent;
    let web: SimWorkload;
    let proxy: Awaited<ReturnType<typeof cuttingProxy>>;
    const proxied = `unix://${join(dir, 'proxy.sock')}`;

    before(async () => {
      const world = await SimWorld.create({
        trustDomain: 'example.org',
        svidTtlMs: 10_000,
        envoyRestartMs: 500,
        now: () => Date.UTC(2025, 0, 1),
      });
      web = await world.addWorkload({
        id: 'shop/web-0',
        spiffeId: 'spiffe://example.org/ns/shop/sa/web',
        platform: 'kubernetes',
        location: 'shop',
      });
      agent = new FakeSpireAgent({ world, pollMs: 0, health: false });
      await agent.start();
      proxy = await cuttingProxy(join(dir, 'proxy.sock'), agent.adminEndpoint.slice('unix://'.length));
    });
    after(async () => {
      await new Promise<void>((r) => {
        proxy.cut();
        proxy.server.close(() => {
          r();
        });
      });
      await agent.dispose();
      removeDir(dir);
    });

    it('reports UNAVAILABLE with a retry, then reconnects and gets the full state again', async () => {
      const rec = new WatchRecorder<DelegatedX509SvidsUpdate>();
      const w = new GrpcAgentAdmin({ backoff: FAST }).watchX509Svids(proxied, workloadSelectors(web), rec.handlers);
      try {
        await rec.update(1);
        assert.ok(proxy.cut() > 0, 'there was a connection to cut');
        const { failure, retryInMs } = await rec.failure(1);
        assert.equal(failure.code, 'UNAVAILABLE', failure.message);
        assert.notEqual(retryInMs, null);
        assert.ok(failure.message.startsWith(`${proxied} DelegatedIdentity/SubscribeToX509SVIDs: UNAVAILABLE`), failure.message);
        const again = await rec.update(2);
        assert.deepEqual(
          again.svids.map((s) => s.spiffeId),
          [web.spiffeId],
        );
      } finally {
        w.close();
      }
    });
  });
});
