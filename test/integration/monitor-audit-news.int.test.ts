/**
 * The audit log records news, not state: a healthy fleet rotating its SVIDs inside their window
 * writes no audit entry (the store still keeps every observation), while a rotation seen late and
 * a probe failing and recovering are audited.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { RedisAuditLog } from '../../src/adapters/redis/redis-audit-log.js';
import { RedisKnowledgeStore } from '../../src/adapters/redis/redis-knowledge-store.js';
import type { EnvoyCertsData, EnvoyStatsData, ServedCertificate } from '../../src/knowledge/model/observation.js';
import type { Workload } from '../../src/knowledge/model/workload.js';
import { sweepEnvoys } from '../../src/monitor/sweep-envoys.js';
import type { EnvoyAdminPort } from '../../src/ports/envoy-admin.port.js';
import { uniquePrefix, withRedis } from '../support/redis.js';

const TTL = 6_000;
const rotation = { rotateAtFraction: 0.5, graceMs: 1_500 };
const workload: Workload = {
  id: 'shop/web-0',
  spiffeId: 'spiffe://example.org/ns/shop/sa/web',
  trustDomain: 'example.org',
  platform: 'kubernetes',
  location: 'shop',
  envoyAdminUrl: 'http://10.0.0.1:15000',
};
const leaf = (n: number, validFromMs: number): ServedCertificate => ({
  serialNumber: `a${n}`,
  uriSans: [workload.spiffeId],
  validFromMs,
  expiresAtMs: validFromMs + TTL,
});
const stats: EnvoyStatsData = { kind: 'envoy.stats', sds: [], ssl: [], secretsNotReady: 0, serverState: 0 };

describe('monitor: the audit log records news, not state', () => {
  const redis = withRedis();

  it('healthy rotations write no audit entry; a missed rotation, a late one and a probe failing and recovering do', async () => {
    const conn = redis.connect();
    const prefix = uniquePrefix('news');
    const store = new RedisKnowledgeStore(conn, prefix);
    const audit = new RedisAuditLog(conn, prefix);
    let now = 1_000_000;
    let serving: EnvoyCertsData | Error = { kind: 'envoy.certs', chain: [leaf(0, now)], caCerts: [] };
    const envoy: EnvoyAdminPort = {
      readCerts: () => (serving instanceof Error ? Promise.reject(serving) : Promise.resolve(serving)),
      readStats: () => Promise.resolve(stats),
      readReady: () => Promise.resolve(true),
      readServerInfo: () => Promise.reject(new Error('not used')),
      quit: () => Promise.resolve(),
    };
    const sweep = () => sweepEnvoys({ store, audit, envoy, clock: { now: () => now }, concurrency: 1, rotation }, [workload]);
    const certsEntries = async () =>
      (await audit.list()).filter((e) => e.subject === workload.id && e.data?.['source'] === 'envoy.certs').map((e) => e.type);

    await sweep();
    assert.deepEqual(await certsEntries(), ['observation.changed'], 'the first observation is audited');

    // N healthy rotations: each new leaf is served at half its predecessor's lifetime and seen a second later.
    const N = 20;
    let validFrom = now;
    for (let i = 1; i <= N; i++) {
      now = validFrom + TTL / 2 + 1_000;
      await sweep();
      validFrom += TTL / 2;
      serving = { kind: 'envoy.certs', chain: [leaf(i, validFrom)], caCerts: [] };
      await sweep();
      const latest = await store.latestObservation(workload.id, 'envoy.certs');
      assert.equal(
        latest?.data.kind === 'envoy.certs' ? latest.data.chain[0]?.serialNumber : null,
        `a${i}`,
        'the store keeps every rotation',
      );
      assert.equal(latest?.stateSince, now, 'and when its state began');
    }
    assert.deepEqual(await certsEntries(), ['observation.changed'], `${N} healthy rotations write no audit entry`);

    // A late rotation: the leaf is past its rotation point plus grace before the new one is seen.
    now = validFrom + TTL / 2 + rotation.graceMs + 500;
    await sweep();
    assert.deepEqual(await certsEntries(), ['observation.changed', 'observation.changed'], 'the missed rotation is audited');
    assert.match((await audit.list()).at(-1)?.message ?? '', new RegExp(`serves SVID serial a${N}\\b`));
    await sweep();
    assert.equal((await certsEntries()).length, 2, 'the same overdue leaf seen again is not news twice');
    const late: EnvoyCertsData = { kind: 'envoy.certs', chain: [leaf(N + 1, now - 100)], caCerts: [] };
    serving = late;
    await sweep();
    assert.deepEqual(
      await certsEntries(),
      ['observation.changed', 'observation.changed', 'observation.changed'],
      'the late rotation is audited',
    );
    const restored = (await audit.list()).at(-1);
    assert.match(restored?.message ?? '', new RegExp(`serves SVID serial a${N + 1}`));

    // The probe fails, then recovers with a leaf inside its window: both are audited.
    now += 1_000;
    serving = new Error('connect ECONNREFUSED 10.0.0.1:15000');
    await sweep();
    now += 500;
    serving = late;
    await sweep();
    assert.deepEqual(
      await certsEntries(),
      ['observation.changed', 'observation.changed', 'observation.changed', 'observation.failed', 'observation.changed'],
      'a probe failing and recovering is audited',
    );
  });

  it('without a rotation policy every change of state is still audited', async () => {
    const conn = redis.connect();
    const prefix = uniquePrefix('news-all');
    const store = new RedisKnowledgeStore(conn, prefix);
    const audit = new RedisAuditLog(conn, prefix);
    let now = 1_000_000;
    let serving: EnvoyCertsData = { kind: 'envoy.certs', chain: [leaf(0, now)], caCerts: [] };
    const envoy: EnvoyAdminPort = {
      readCerts: () => Promise.resolve(serving),
      readStats: () => Promise.resolve(stats),
      readReady: () => Promise.resolve(true),
      readServerInfo: () => Promise.reject(new Error('not used')),
      quit: () => Promise.resolve(),
    };
    const sweep = () => sweepEnvoys({ store, audit, envoy, clock: { now: () => now }, concurrency: 1 }, [workload]);
    await sweep();
    now += TTL / 2 + 500;
    serving = { kind: 'envoy.certs', chain: [leaf(1, now - 500)], caCerts: [] };
    await sweep();
    const certs = (await audit.list()).filter((e) => e.data?.['source'] === 'envoy.certs');
    assert.equal(certs.length, 2);
  });
});
