/**
 * Fewer Delegated Identity streams where the registrations allow it: with namespace/service-account
 * registrations (the simulator's `registrations: serviceAccount`), the workloads of one account on a
 * node share one SubscribeToX509SVIDs stream and one SVID; with per-pod registrations, the shared
 * request lists nothing and every workload falls back to a stream of its own. Real gRPC, real Redis.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { GrpcAgentAdmin } from '../../src/adapters/spire/agent-admin.client.js';
import { RedisAuditLog } from '../../src/adapters/redis/redis-audit-log.js';
import { RedisKnowledgeStore } from '../../src/adapters/redis/redis-knowledge-store.js';
import { DelegatedSvidStreams, type DelegatedSvidTarget } from '../../src/monitor/delegated-svid-streams.js';
import { FakeSpireAgent } from '../../src/sim/spire/fake-spire-agent.js';
import { SimWorld, type Registrations } from '../../src/sim/world.js';
import { uniquePrefix, withRedis } from '../support/redis.js';

const T0 = Date.UTC(2025, 0, 1, 12, 0, 0);
const TTL = 10_000;

async function until<T>(what: string, f: () => Promise<T | null | undefined>, timeoutMs = 5_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await f();
    if (v !== null && v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

for (const registrations of ['serviceAccount', 'pod'] as const satisfies readonly Registrations[]) {
  describe(`Delegated Identity streams with ${registrations} registrations`, () => {
    const redis = withRedis();
    let now = T0;
    const clock = { now: () => now };
    let world: SimWorld;
    let agent: FakeSpireAgent;
    const admin = new GrpcAgentAdmin({ backoff: { initialBackoffMs: 20, maxBackoffMs: 100 }, timeoutMs: 1_000, now: clock.now });

    before(async () => {
      world = await SimWorld.create({ trustDomain: 'example.org', svidTtlMs: TTL, envoyRestartMs: 500, now: clock.now, registrations });
      for (const [app, n] of [
        ['web', 3],
        ['api', 2],
      ] as const)
        for (let i = 0; i < n; i++)
          await world.addWorkload({
            id: `shop/${app}-${i}`,
            spiffeId: `spiffe://example.org/ns/shop/sa/${app}`,
            platform: 'kubernetes',
            location: 'shop',
            node: 'node-0',
          });
      agent = new FakeSpireAgent({ world, node: 'node-0', pollMs: 0 });
      await agent.start();
    });
    after(async () => {
      await agent.dispose();
    });

    it(
      registrations === 'serviceAccount'
        ? 'one stream per service account on the node, every workload reported with the SVID its account shares, rotations followed'
        : 'the shared request lists nothing, so each workload gets a stream of its own and its own SVID',
      async () => {
        const conn = redis.connect();
        const prefix = uniquePrefix('shared');
        const store = new RedisKnowledgeStore(conn, prefix);
        let nudges = 0;
        const streams = new DelegatedSvidStreams({
          store,
          audit: new RedisAuditLog(conn, prefix),
          port: admin,
          clock,
          retryMs: 20,
          maxBackoffMs: 100,
          onChanged: () => {
            nudges++;
          },
          nudgeWindowMs: 1_000,
          onRecordError: (err) => {
            throw err;
          },
        });
        // The daemon's selectors for a pod, as the Kubernetes inventory builds them.
        const targets: DelegatedSvidTarget[] = world.workloads().map((w) => ({
          workloadId: w.id,
          spiffeId: w.spiffeId,
          node: w.node,
          adminEndpoint: agent.adminEndpoint,
          selectors: [
            { type: 'k8s', value: 'ns:shop' },
            { type: 'k8s', value: `sa:${w.id.slice('shop/'.length).replace(/-\d+$/, '')}` },
            { type: 'k8s', value: `pod-name:${w.id.slice('shop/'.length)}` },
            { type: 'k8s', value: `pod-uid:uid-${w.id}` },
          ],
        }));
        const serialIn = async (id: string): Promise<string | null> => {
          const o = await store.latestObservation(id, 'spire.delegated.svid');
          return o?.data.kind === 'spire.svid' ? (o.data.svid?.serialNumber ?? null) : null;
        };
        const allCurrent = async (): Promise<true | null> => {
          for (const w of world.workloads()) if ((await serialIn(w.id)) !== world.agentSvid(w.id).serialHex) return null;
          return true;
        };
        streams.sync(targets);
        try {
          await until('every workload reported', allCurrent);
          const shared = new Set(world.workloads().map((w) => world.agentSvid(w.id).serialHex)).size;
          if (registrations === 'serviceAccount') {
            assert.equal(shared, 2, 'one SVID per account on the node');
            assert.equal(streams.streamCount(), 2, 'one stream per account on the node');
          } else {
            assert.equal(shared, 5, 'one SVID per pod');
            await until('own streams', () => Promise.resolve(streams.streamCount() === 5 ? true : null));
          }
          // Five workloads' observations changed; analysis is nudged once per window, not once per change.
          await new Promise((r) => setTimeout(r, 1_100));
          assert.ok(nudges >= 1 && nudges < 5, `${nudges} nudges for 5 changed observations`);
          now += TTL / 2;
          await world.tick();
          await agent.notify();
          await until('every rotation followed', allCurrent);
          assert.equal(Object.keys(streams.states()).length, 5, 'every workload has a stream state');
        } finally {
          streams.stop();
        }
      },
    );
  });
}
