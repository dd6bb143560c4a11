import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server as NetServer } from 'node:net';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { GrpcAgentAdmin } from '../../src/adapters/spire/agent-admin.client.js';
import { concatDer, splitConcatenatedDer } from '../../src/adapters/spire/der.js';
import { GrpcSpireServer } from '../../src/adapters/spire/spire-server.client.js';
import { spireMethod } from '../../src/adapters/spire/spire-protos.js';
import { GrpcWorkloadApi } from '../../src/adapters/spire/workload-api.client.js';
import type { SpireFailure } from '../../src/ports/spire.port.js';
import { createTrustDomainCa, mintSvid, type MintedCert } from '../../src/sim/certs.js';
import { bindServer, makeSocketDir, removeDir, type BoundServer } from '../../src/sim/spire/grpc-endpoint.js';

const raw = (b: Buffer): Buffer => b;
/** A method definition with identity serializers: the handler writes raw bytes. */
function rawMethod(path: string, responseStream: boolean): grpc.MethodDefinition<Buffer, Buffer> {
  return {
    path,
    requestStream: false,
    responseStream,
    requestSerialize: raw,
    requestDeserialize: raw,
    responseSerialize: raw,
    responseDeserialize: raw,
  };
}

type Behaviour = (write: (b: Buffer) => void, fail: (code: grpc.status, details: string) => void) => void;

/** A raw server for one method whose behaviour each test sets. */
async function rawServer(
  path: string,
  responseStream: boolean,
  dir: string,
  name: string,
): Promise<{ bound: BoundServer; set: (b: Behaviour) => void }> {
  let behaviour: Behaviour = (_w, fail) => {
    fail(grpc.status.INTERNAL, 'no behaviour');
  };
  const server = new grpc.Server();
  const method = path.split('/')[2] ?? '';
  server.addService(
    { [method]: rawMethod(path, responseStream) },
    {
      [method]: responseStream
        ? (call: grpc.ServerWritableStream<Buffer, Buffer>) => {
            behaviour(
              (b) => call.write(b),
              (code, details) => {
                call.emit('error', { code, details });
              },
            );
          }
        : (_call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
            behaviour(
              (b) => {
                cb(null, b);
              },
              (code, details) => {
                cb({ code, details });
              },
            );
          },
    },
  );
  return {
    bound: await bindServer(server, { socketPath: join(dir, name) }),
    set: (b) => {
      behaviour = b;
    },
  };
}

function firstFailure(api: GrpcWorkloadApi, endpoint: string): Promise<{ f: SpireFailure; retry: number | null }> {
  return new Promise((resolve) => {
    const w = api.watchX509Svids(endpoint, {
      onUpdate: () => {
        w.close();
        resolve({ f: { message: 'unexpected update' } as SpireFailure, retry: null });
      },
      onError: (f, retry) => {
        w.close();
        resolve({ f, retry });
      },
    });
  });
}

describe('SPIRE clients on bad input', () => {
  const dir = makeSocketDir();
  const api = new GrpcWorkloadApi({ backoff: { initialBackoffMs: 10, maxBackoffMs: 50 } });
  let workload: Awaited<ReturnType<typeof rawServer>>;
  let debug: Awaited<ReturnType<typeof rawServer>>;
  let list: Awaited<ReturnType<typeof rawServer>>;
  let delegated: Awaited<ReturnType<typeof rawServer>>;
  let bundle: Awaited<ReturnType<typeof rawServer>>;
  let ca: Awaited<ReturnType<typeof createTrustDomainCa>>;
  let expired: MintedCert;
  let httpsSan: MintedCert;
  const encode = spireMethod('workload', 'FetchX509SVID').responseSerialize;
  const unhandled: unknown[] = [];
  const onUnhandled = (e: unknown): void => {
    unhandled.push(e);
  };
  /** A FetchX509SVID message with one SVID. */
  const svidMessage = (spiffeId: string, cert: MintedCert): Buffer =>
    encode({
      svids: [{ spiffe_id: spiffeId, x509_svid: Buffer.from(cert.der), x509_svid_key: Buffer.from([1]), bundle: Buffer.from(ca.cert.der) }],
    });

  before(async () => {
    workload = await rawServer('/SpiffeWorkloadAPI/FetchX509SVID', true, dir, 'workload.sock');
    debug = await rawServer('/spire.agent.debug.v1.Debug/GetInfo', false, dir, 'admin.sock');
    list = await rawServer('/spire.api.server.agent.v1.Agent/ListAgents', false, dir, 'server.sock');
    delegated = await rawServer(
      '/spire.api.agent.delegatedidentity.v1.DelegatedIdentity/SubscribeToX509SVIDs',
      true,
      dir,
      'delegated.sock',
    );
    bundle = await rawServer('/spire.api.server.bundle.v1.Bundle/GetBundle', false, dir, 'bundle.sock');
    ca = await createTrustDomainCa('example.org', Date.now() - 7_200_000);
    expired = (
      await mintSvid({ ca, spiffeId: 'spiffe://example.org/ns/shop/sa/web', issuedAtMs: Date.now() - 7_200_000, ttlMs: 3_600_000 })
    ).cert;
    httpsSan = (await mintSvid({ ca, spiffeId: 'https://example.org/web', issuedAtMs: Date.now(), ttlMs: 3_600_000 })).cert;
    process.on('unhandledRejection', onUnhandled);
  });
  after(() => {
    process.off('unhandledRejection', onUnhandled);
    for (const s of [workload, debug, list, delegated, bundle]) s.bound.close();
    removeDir(dir);
    assert.deepEqual(unhandled, [], 'no unhandled rejection');
  });

  it('garbage protobuf → INTERNAL naming endpoint and RPC, retried', async () => {
    workload.set((write) => {
      write(Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01]));
    });
    const { f, retry } = await firstFailure(api, workload.bound.endpoint);
    assert.equal(f.code, 'INTERNAL', f.message);
    assert.ok(f.message.startsWith(`${workload.bound.endpoint} SpiffeWorkloadAPI/FetchX509SVID: INTERNAL`), f.message);
    assert.notEqual(retry, null);
  });

  it('truncated protobuf → INTERNAL parse error', async () => {
    const full = encode({
      svids: [{ spiffe_id: 'spiffe://example.org/x', x509_svid: Buffer.from(ca.cert.der), bundle: Buffer.from(ca.cert.der) }],
    });
    workload.set((write) => {
      write(full.subarray(0, Math.floor(full.length / 2)));
    });
    const { f } = await firstFailure(api, workload.bound.endpoint);
    assert.equal(f.code, 'INTERNAL', f.message);
    assert.match(f.message, /pars/i);
  });

  it('valid protobuf carrying garbage or truncated DER → MALFORMED naming the field', async () => {
    workload.set((write) => {
      write(encode({ svids: [{ spiffe_id: 'spiffe://example.org/x', x509_svid: Buffer.from('not der'), bundle: Buffer.alloc(0) }] }));
    });
    let { f } = await firstFailure(api, workload.bound.endpoint);
    assert.equal(f.code, 'MALFORMED');
    assert.match(f.message, /svids\[0\]\.x509_svid: DER at byte 0: expected SEQUENCE/);
    const der = Buffer.from(ca.cert.der);
    workload.set((write) => {
      write(
        encode({ svids: [{ spiffe_id: 'spiffe://example.org/x', x509_svid: der.subarray(0, der.length - 5), bundle: Buffer.alloc(0) }] }),
      );
    });
    ({ f } = await firstFailure(api, workload.bound.endpoint));
    assert.equal(f.code, 'MALFORMED');
    assert.match(f.message, /runs past the end/);
    workload.set((write) => {
      write(encode({ svids: [{ spiffe_id: 'web', x509_svid: der, bundle: Buffer.alloc(0) }] }));
    });
    ({ f } = await firstFailure(api, workload.bound.endpoint));
    assert.match(f.message, /not a SPIFFE ID: "web"/);
  });

  it('Unimplemented, InvalidArgument and PermissionDenied are permanent for execute, yet a watch reconnects with backoff', async () => {
    for (const [code, name] of [
      [grpc.status.UNIMPLEMENTED, 'UNIMPLEMENTED'],
      [grpc.status.INVALID_ARGUMENT, 'INVALID_ARGUMENT'],
      [grpc.status.PERMISSION_DENIED, 'PERMISSION_DENIED'],
    ] as const) {
      workload.set((_w, fail) => {
        fail(code, 'nope');
      });
      const { f, retry } = await firstFailure(api, workload.bound.endpoint);
      assert.equal(f.code, name);
      assert.equal(retry, 10, `${name}: a monitor's watch reconnects after the first backoff`);
      assert.equal(f.retry, 'permanent', `${name}: a remediation job is not delivered again`);
    }
  });

  it('connection reset by the peer → UNAVAILABLE, retried, no crash', async () => {
    const path = join(dir, 'reset.sock');
    const net: NetServer = createServer((s) => {
      s.destroy();
    });
    await new Promise<void>((r) => net.listen(path, r));
    try {
      const { f, retry } = await firstFailure(api, `unix://${path}`);
      assert.equal(f.code, 'UNAVAILABLE', f.message);
      assert.notEqual(retry, null);
    } finally {
      await new Promise<void>((r) =>
        net.close(() => {
          r();
        }),
      );
    }
  });

  it('Debug.GetInfo with garbage → INTERNAL; with an out-of-shape value → MALFORMED', async () => {
    const admin = new GrpcAgentAdmin({ timeoutMs: 2_000 });
    debug.set((write) => {
      write(Buffer.from([0x22, 0x05, 0x01]));
    });
    await assert.rejects(admin.getInfo(debug.bound.endpoint), (e: SpireFailure) => {
      assert.equal(e.code, 'INTERNAL', e.message);
      assert.ok(e.message.includes('Debug/GetInfo'), e.message);
      return true;
    });
    const enc = spireMethod('agentDebug', 'GetInfo').responseSerialize;
    debug.set((write) => {
      write(enc({ svid_chain: [{ id: null, expires_at: '5' }], last_sync_success: '1' }));
    });
    await assert.rejects(
      admin.getInfo(debug.bound.endpoint),
      (e: SpireFailure) => e.code === 'MALFORMED' && /svid_chain\[0\]\.id: missing SPIFFE ID/.test(e.message),
    );
  });

  it('ListAgents whose next_page_token repeats → MALFORMED instead of looping', async () => {
    const enc = spireMethod('serverAgent', 'ListAgents').responseSerialize;
    list.set((write) => {
      write(enc({ agents: [], next_page_token: 'again' }));
    });
    const server = new GrpcSpireServer({ endpoint: list.bound.endpoint });
    try {
      await assert.rejects(server.listAgents(), (e: SpireFailure) => e.code === 'MALFORMED' && /repeats/.test(e.message));
    } finally {
      server.close();
    }
  });

  it("a leaf whose URI SAN is not a SPIFFE ID, or not the SVID's ID → MALFORMED", async () => {
    workload.set((write) => {
      write(svidMessage('spiffe://example.org/web', httpsSan));
    });
    let { f } = await firstFailure(api, workload.bound.endpoint);
    assert.equal(f.code, 'MALFORMED', f.message);
    assert.match(f.message, /svids\[0\]\.x509_svid: leaf URI SAN "https:\/\/example\.org\/web" is not a SPIFFE ID/);
    workload.set((write) => {
      write(svidMessage('spiffe://example.org/ns/shop/sa/db', expired));
    });
    ({ f } = await firstFailure(api, workload.bound.endpoint));
    assert.match(f.message, /does not match the SPIFFE ID "spiffe:\/\/example\.org\/ns\/shop\/sa\/db"/);
  });

  it('an expired SVID is delivered with its expiry (the monitor must see it), not dropped', async () => {
    workload.set((write) => {
      write(svidMessage('spiffe://example.org/ns/shop/sa/web', expired));
    });
    const u = await api.fetchX509Svids(workload.bound.endpoint);
    assert.equal(u.svids.length, 1);
    const leaf = u.svids[0]?.chain[0];
    assert.equal(leaf?.serialHex, expired.serialHex);
    assert.ok(leaf.notAfterMs < u.receivedAtMs, 'reported as expired');
  });

  it('Delegated Identity: bad DER in cert_chain or a non-SPIFFE leaf → MALFORMED naming the RPC', async () => {
    const admin = new GrpcAgentAdmin({ backoff: { initialBackoffMs: 10, maxBackoffMs: 50 } });
    const enc = spireMethod('delegatedIdentity', 'SubscribeToX509SVIDs').responseSerialize;
    const msg = (der: Buffer): Buffer =>
      enc({
        x509_svids: [
          {
            x509_svid: { cert_chain: [der], id: { trust_domain: 'example.org', path: '/web' }, expires_at: '1' },
            x509_svid_key: Buffer.from([1]),
          },
        ],
      });
    const first = (): Promise<SpireFailure> =>
      new Promise((resolve) => {
        const w = admin.watchX509Svids(delegated.bound.endpoint, [{ type: 'k8s', value: 'ns:shop' }], {
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
    delegated.set((write) => {
      write(msg(Buffer.from([0x30, 0x03, 0x02, 0x01])));
    });
    let f = await first();
    assert.equal(f.code, 'MALFORMED', f.message);
    assert.ok(f.message.startsWith(`${delegated.bound.endpoint} DelegatedIdentity/SubscribeToX509SVIDs: MALFORMED`), f.message);
    assert.match(f.message, /x509_svids\[0\]\.x509_svid\.cert_chain\[0\]: not an X\.509 certificate/);
    delegated.set((write) => {
      write(msg(Buffer.from(httpsSan.der)));
    });
    f = await first();
    assert.match(f.message, /is not a SPIFFE ID/);
  });

  it('GetBundle with an authority that is not a certificate → MALFORMED naming the authority', async () => {
    const enc = spireMethod('serverBundle', 'GetBundle').responseSerialize;
    bundle.set((write) => {
      write(
        enc({
          trust_domain: 'example.org',
          x509_authorities: [{ asn1: Buffer.from(ca.cert.der) }, { asn1: Buffer.from('garbage') }],
          sequence_number: '3',
        }),
      );
    });
    const server = new GrpcSpireServer({ endpoint: bundle.bound.endpoint });
    try {
      await assert.rejects(server.getBundle(), (e: SpireFailure) => {
        assert.equal(e.code, 'MALFORMED', e.message);
        assert.equal(e.rpc, 'Bundle/GetBundle');
        assert.match(e.message, /x509_authorities\[1\]\.asn1: not an X\.509 certificate/);
        return true;
      });
    } finally {
      server.close();
    }
  });

  it('splits concatenated DER and rejects trailing junk', () => {
    const a = Buffer.from(ca.cert.der);
    assert.deepEqual(
      splitConcatenatedDer(concatDer([a, a])).map((d) => d.length),
      [a.length, a.length],
    );
    assert.throws(() => splitConcatenatedDer(Buffer.concat([a, Buffer.from([0x30])])), /truncated length/);
    assert.deepEqual(splitConcatenatedDer(Buffer.alloc(0)), []);
  });
});
