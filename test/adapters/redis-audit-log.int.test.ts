import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Redis } from 'ioredis';
import { RedisAuditLog } from '../../src/adapters/redis/redis-audit-log.js';
import { GENESIS_HASH, type AuditEventInput } from '../../src/knowledge/audit.js';
import { canonicalJson, hashAuditEntry } from '../../src/knowledge/audit-hash.js';
import { uniquePrefix, withRedis } from '../support/redis.js';

function ev(n: number, over: Partial<AuditEventInput> = {}): AuditEventInput {
  return { type: 'observation.changed', at: 1_000 + n, message: `event ${n}`, subject: 'shop/web-1', data: { n }, ...over };
}

type Raw = [string, string[]];

/** Rewrites the stream under the same ids with `edit` applied to the fields of the entry at `index` (streams cannot be edited in place). */
async function rewriteEntry(raw: Redis, key: string, index: number, edit: (fields: Map<string, string>) => void): Promise<void> {
  const entries = (await raw.xrange(key, '-', '+')) as Raw[];
  await raw.del(key);
  for (const [i, [id, flat]] of entries.entries()) {
    const fields = new Map<string, string>();
    for (let j = 0; j + 1 < flat.length; j += 2) fields.set(flat[j] ?? '', flat[j + 1] ?? '');
    if (i === index) edit(fields);
    await raw.xadd(key, id, ...[...fields].flat());
  }
}

describe('RedisAuditLog on a real redis-server', () => {
  const redis = withRedis();

  async function logWith(n: number): Promise<{ log: RedisAuditLog; raw: Redis; key: string; ids: string[] }> {
    const prefix = uniquePrefix();
    const log = new RedisAuditLog(redis.connect(), prefix);
    const ids: string[] = [];
    for (let i = 1; i <= n; i++) ids.push((await log.append(ev(i))).id);
    return { log, raw: redis.connect(), key: `${prefix}:audit`, ids };
  }

  it('links each entry to the one before with a hash over (seq, prevHash, event)', async () => {
    const log = new RedisAuditLog(redis.connect(), uniquePrefix());
    const a = await log.append(ev(1, { incidentId: 'inc-1' }));
    const b = await log.append(ev(2));
    const c = await log.append(ev(3, { incidentId: 'inc-1', dedupKey: 'k3' }));
    assert.deepEqual([a.seq, b.seq, c.seq], [1, 2, 3]);
    assert.equal(a.prevHash, GENESIS_HASH);
    assert.equal(b.prevHash, a.hash);
    assert.equal(c.prevHash, b.hash);
    assert.equal(c.hash, hashAuditEntry({ seq: 3, prevHash: b.hash, event: ev(3, { incidentId: 'inc-1' }) }));
    assert.equal(c.dedupKey, 'k3');
    assert.deepEqual(await log.list(), [a, b, c]);
    assert.deepEqual(
      (await log.list({ incidentId: 'inc-1' })).map((e) => e.seq),
      [1, 3],
    );
    assert.deepEqual(
      (await log.list({ sinceMs: 1_002 })).map((e) => e.seq),
      [2, 3],
    );
    assert.deepEqual(
      (await log.list({ limit: 2 })).map((e) => e.seq),
      [1, 2],
    );
    assert.deepEqual(await log.verify(), { ok: true, entries: 3 });
  });

  it('stores the event as canonical JSON and round-trips it exactly', async () => {
    const log = new RedisAuditLog(redis.connect(), uniquePrefix());
    const event = ev(1, { data: { z: 1, a: { y: [1, 'x', null], b: true } } });
    const entry = await log.append(event);
    const [stored] = await log.list();
    assert.deepEqual(stored, entry);
    const raw = (await redis.connect().xrange(`${log.keyPrefix}:audit`, '-', '+')) as Raw[];
    assert.ok(raw[0]?.[1].includes(canonicalJson(event)));
  });

  it('50 concurrent appends over two connections make one gap-free chain', async () => {
    const prefix = uniquePrefix();
    const logA = new RedisAuditLog(redis.connect(), prefix);
    const logB = new RedisAuditLog(redis.connect(), prefix);
    const appended = await Promise.all(Array.from({ length: 50 }, (_, i) => (i % 2 === 0 ? logA : logB).append(ev(i))));
    const oneToFifty = Array.from({ length: 50 }, (_, i) => i + 1);
    assert.deepEqual(
      appended.map((e) => e.seq).sort((x, y) => x - y),
      oneToFifty,
    );
    const listed = await logA.list();
    assert.deepEqual(
      listed.map((e) => e.seq),
      oneToFifty,
    );
    assert.deepEqual(
      listed,
      [...appended].sort((x, y) => x.seq - y.seq),
      'what append returned is what was stored',
    );
    assert.equal(new Set(listed.map((e) => e.message)).size, 50, 'every event stored once');
    assert.deepEqual(await logB.verify(), { ok: true, entries: 50 });
  });

  it('appending the same dedupKey twice (or concurrently) stores one entry', async () => {
    const prefix = uniquePrefix();
    const log = new RedisAuditLog(redis.connect(), prefix);
    const other = new RedisAuditLog(redis.connect(), prefix);
    const first = await log.append(ev(1, { dedupKey: 'job.started--j1' }));
    const again = await other.append(ev(1, { dedupKey: 'job.started--j1', message: 'a resend' }));
    assert.deepEqual(again, first);
    const racing = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 === 0 ? log : other).append(ev(2, { dedupKey: 'k2' }))));
    assert.equal(new Set(racing.map((e) => e.id)).size, 1);
    assert.deepEqual(
      (await log.list()).map((e) => [e.seq, e.dedupKey]),
      [
        [1, 'job.started--j1'],
        [2, 'k2'],
      ],
    );
    assert.deepEqual(await log.verify(), { ok: true, entries: 2 });
  });

  it('appends sent together keep their order; one already stored in the middle is answered with the stored entry', async () => {
    const prefix = uniquePrefix();
    const log = new RedisAuditLog(redis.connect(), prefix);
    const stored = await new RedisAuditLog(redis.connect(), prefix).append(ev(9, { dedupKey: 'already' }));
    // Issued in one tick: they travel as one batch (after the first, which goes alone).
    const out = await Promise.all([
      log.append(ev(1)),
      log.append(ev(2)),
      log.append(ev(9, { dedupKey: 'already' })),
      log.append(ev(3)),
      log.append(ev(4)),
    ]);
    assert.deepEqual(out[2], stored);
    assert.deepEqual(
      (await log.list()).map((e) => e.message),
      [stored.message, ...[1, 2, 3, 4].map((i) => ev(i).message)],
    );
    assert.deepEqual(await log.verify(), { ok: true, entries: 5 });
  });

  it('an empty log verifies', async () => {
    const log = new RedisAuditLog(redis.connect(), uniquePrefix());
    assert.deepEqual(await log.verify(), { ok: true, entries: 0 });
    assert.deepEqual(await log.list(), []);
  });

  it('an edited entry (rewritten stream) is named by its seq: hash mismatch', async () => {
    const { log, raw, key, ids } = await logWith(6);
    await rewriteEntry(raw, key, 2, (f) => {
      f.set('event', (f.get('event') ?? '').replace('"message":"', '"message":"(edited) '));
    });
    assert.deepEqual(await log.verify(), {
      ok: false,
      entries: 6,
      firstBad: { seq: 3, id: ids[2], problem: 'hash mismatch: entry was modified' },
    });
  });

  it('an edit with a recomputed hash breaks the link from the next entry', async () => {
    const { log, raw, key, ids } = await logWith(6);
    await rewriteEntry(raw, key, 2, (f) => {
      const event = { ...(JSON.parse(f.get('event') ?? '') as AuditEventInput), message: 'forged' };
      f.set('event', canonicalJson(event));
      f.set('hash', hashAuditEntry({ seq: 3, prevHash: f.get('prevHash') ?? '', event }));
    });
    assert.deepEqual(await log.verify(), {
      ok: false,
      entries: 6,
      firstBad: { seq: 4, id: ids[3], problem: 'prevHash does not match entry 3' },
    });
  });

  it('XDEL of a middle entry is a seq gap, named at the entry after it', async () => {
    const { log, raw, key, ids } = await logWith(6);
    await raw.xdel(key, ids[3] ?? '');
    assert.deepEqual(await log.verify(), {
      ok: false,
      entries: 5,
      firstBad: { seq: 5, id: ids[4], problem: 'seq gap: entries 4..4 missing (deleted?)' },
    });
  });

  it('XDEL of the tail is caught by the head key', async () => {
    const { log, raw, key, ids } = await logWith(6);
    await raw.xdel(key, ids[5] ?? '');
    assert.deepEqual(await log.verify(), {
      ok: false,
      entries: 5,
      firstBad: { seq: 6, id: ids[5], problem: 'head says seq 6 but the log ends at 5: last entries deleted' },
    });
    await raw.xdel(key, ids[4] ?? '');
    const v = await log.verify();
    assert.equal(v.ok, false);
    assert.equal(v.firstBad.seq, 5);
  });

  it('deleting the head key is caught too', async () => {
    const { log, raw, key } = await logWith(2);
    await raw.del(`${key}:head`);
    const v = await log.verify();
    assert.equal(v.ok ? null : v.firstBad.problem, 'head key is missing but the log holds 2 entries: head deleted?');
  });

  it('a malformed entry is a bad entry, not a crash; list skips it', async () => {
    const { log, raw, key, ids } = await logWith(4);
    await rewriteEntry(raw, key, 1, (f) => {
      f.set('event', '{not json');
    });
    assert.deepEqual(await log.verify(), {
      ok: false,
      entries: 4,
      firstBad: { seq: 2, id: ids[1], problem: 'malformed entry: event is not valid JSON' },
    });
    assert.deepEqual(
      (await log.list()).map((e) => e.seq),
      [1, 3, 4],
    );
    await rewriteEntry(raw, key, 0, (f) => {
      f.delete('seq');
    });
    const v = await log.verify();
    assert.deepEqual(v.ok ? null : [v.firstBad.seq, v.firstBad.problem], [1, 'malformed entry: seq is missing']);
  });

  it('verify pages through a long log', async () => {
    const log = new RedisAuditLog(redis.connect(), uniquePrefix());
    for (let i = 0; i < 1_205; i++) await log.append(ev(i));
    assert.deepEqual(await log.verify(), { ok: true, entries: 1_205 });
    assert.equal((await log.list()).length, 1_205);
  });
});
