import type { Redis } from 'ioredis';
import { GENESIS_HASH, type AuditVerification } from '../../knowledge/audit.js';
import { hashAuditEntry } from '../../knowledge/audit-hash.js';
import { decodeEntry, type RawStreamEntry } from './redis-audit-entry.js';
import type { KnowledgeKeys } from './redis-keys.js';

const PAGE = 1_000;

/** The head as stored: seq and hash of the last appended entry and its stream id. */
export interface AuditHead {
  readonly seq: number;
  readonly hash: string;
  readonly id: string;
}

/** Reads the head key; an absent head is the empty chain (seq 0, genesis hash). */
export async function readAuditHead(redis: Redis, keys: KnowledgeKeys): Promise<AuditHead> {
  const [seq, hash, id] = await redis.hmget(keys.auditHead, 'seq', 'hash', 'id');
  return { seq: seq === null || seq === undefined ? 0 : Number(seq), hash: hash ?? GENESIS_HASH, id: id ?? '' };
}

/**
 * Walks the stream oldest first, up to the head as it was when the walk started (so concurrent
 * appends are not mistaken for damage), and returns the first bad entry: malformed, out of
 * sequence (a gap means deleted entries), hash not matching its contents (edited), or prevHash
 * not linking to the entry before. Finally the last entry must be the one the head names
 * (catches deletion of the tail, which leaves no gap behind).
 */
export async function verifyAuditStream(redis: Redis, keys: KnowledgeKeys): Promise<AuditVerification> {
  const head = await readAuditHead(redis, keys);
  let entries = 0;
  let prevSeq = 0;
  let prevHash = GENESIS_HASH;
  let lastId = '';
  const broken = async (seq: number, id: string, problem: string): Promise<AuditVerification> => ({
    ok: false,
    entries: await redis.xlen(keys.audit),
    firstBad: { seq, id, problem },
  });

  if (head.seq === 0) {
    const n = await redis.xlen(keys.audit);
    if (n > 0) return broken(1, '', `head key is missing but the log holds ${n} entries: head deleted?`);
  } else {
    for (let start = '-'; ;) {
      const page = (await redis.xrange(keys.audit, start, head.id, 'COUNT', PAGE)) as RawStreamEntry[];
      for (const raw of page) {
        entries++;
        lastId = raw[0];
        const d = decodeEntry(raw);
        if (!d.ok) return broken(d.seq ?? prevSeq + 1, d.id, d.problem);
        const e = d.entry;
        if (e.seq > prevSeq + 1) {
          return broken(e.seq, e.id, `seq gap: entries ${prevSeq + 1}..${e.seq - 1} missing (deleted?)`);
        }
        if (e.seq <= prevSeq)
          return broken(e.seq, e.id, `seq out of order: expected ${prevSeq + 1}, found ${e.seq} (duplicated or reordered?)`);
        if (hashAuditEntry({ seq: e.seq, prevHash: e.prevHash, event: d.event }) !== e.hash) {
          return broken(e.seq, e.id, 'hash mismatch: entry was modified');
        }
        if (e.prevHash !== prevHash) {
          return broken(e.seq, e.id, prevSeq === 0 ? 'prevHash is not the genesis hash' : `prevHash does not match entry ${prevSeq}`);
        }
        prevSeq = e.seq;
        prevHash = e.hash;
      }
      if (page.length < PAGE) break;
      start = `(${lastId}`;
    }
  }
  if (prevSeq !== head.seq) {
    const problem =
      prevSeq < head.seq
        ? `head says seq ${head.seq} but the log ends at ${prevSeq}: last entries deleted`
        : `log runs to seq ${prevSeq} past the head (seq ${head.seq}): head rewritten?`;
    // The first missing entry's stream id is known only when it is the head's own entry.
    const id = prevSeq < head.seq ? (head.seq === prevSeq + 1 ? head.id : '') : lastId;
    return broken(Math.min(prevSeq, head.seq) + 1, id, problem);
  }
  if (prevHash !== head.hash || lastId !== head.id) {
    return broken(prevSeq, lastId, `head does not match entry ${prevSeq} (hash or stream id differs): last entry replaced?`);
  }
  return { ok: true, entries };
}
