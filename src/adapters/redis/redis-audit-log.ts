import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { GENESIS_HASH, type AuditEntry, type AuditEventInput, type AuditLog, type AuditQuery, type AuditVerification } from '../../knowledge/audit.js';
import { canonicalJson, hashAuditEntry } from '../../knowledge/audit-hash.js';
import { decodeEntry, streamFields, type RawStreamEntry } from './redis-audit-entry.js';
import { readAuditHead, verifyAuditStream } from './redis-audit-verify.js';
import { knowledgeKeys, type KnowledgeKeys } from './redis-keys.js';

/**
 * KEYS: stream, head, dedup. ARGV: dedupKey, expected head seq, new seq, new hash, then the stream
 * entry's field/value pairs.
 * Returns {'dup', id} if the dedupKey already produced an entry (a resend after reconnect, or a
 * repeated step), {'conflict', seq, hash} if another writer moved the head, else appends, moves
 * the head and records the dedupKey in one atomic step and returns {'ok', id}.
 */
const APPEND_SCRIPT = `
local dup = redis.call('HGET', KEYS[3], ARGV[1])
if dup then return {'dup', dup} end
local head = redis.call('HMGET', KEYS[2], 'seq', 'hash')
if (head[1] or '0') ~= ARGV[2] then return {'conflict', head[1] or '0', head[2] or ''} end
local id = redis.call('XADD', KEYS[1], '*', unpack(ARGV, 5))
redis.call('HSET', KEYS[2], 'seq', ARGV[3], 'hash', ARGV[4], 'id', id)
redis.call('HSET', KEYS[3], ARGV[1], id)
return {'ok', id}
`;

const APPEND_ATTEMPTS = 200;
const PAGE = 500;

/**
 * The audit log on a Redis stream, hash-chained: each entry carries seq, the previous entry's hash
 * and its own hash (computed in Node: Lua has no sha256). Appends are exactly-once per dedupKey and
 * serialised by an optimistic check on the head's seq, so any number of replicas and connections
 * can append concurrently and the chain stays gap-free. Keys: see redis-knowledge-store.ts.
 */
export class RedisAuditLog implements AuditLog {
  private readonly keys: KnowledgeKeys;
  /**
   * Appends from this process run one at a time: concurrent writers in one process would only
   * defeat each other's optimistic check. The CAS still guards against other processes.
   */
  private queue: Promise<unknown> = Promise.resolve();
  /** Last head this process wrote or learned; a stale guess just costs one conflict reply. */
  private knownHead: { seq: number; hash: string; id: string } | null = null;

  /** `redis` may be shared with the knowledge store; the log never closes it. */
  constructor(private readonly redis: Redis, readonly keyPrefix: string) {
    this.keys = knowledgeKeys(keyPrefix);
  }

  /**
   * Appends `event` and returns the stored entry. If its dedupKey (default: a fresh random id) was
   * already appended, returns that earlier entry and appends nothing.
   */
  append(event: AuditEventInput): Promise<AuditEntry> {
    const run = this.queue.then(() => this.appendNow(event));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async appendNow(event: AuditEventInput): Promise<AuditEntry> {
    const { dedupKey = randomUUID(), ...rest } = event;
    const eventJson = canonicalJson(rest);
    // Hash exactly what verify() will read back: the canonical JSON, parsed.
    const stored = JSON.parse(eventJson) as AuditEventInput;
    let head = this.knownHead ?? (await readAuditHead(this.redis, this.keys));
    for (let attempt = 0; attempt < APPEND_ATTEMPTS; attempt++) {
      const seq = head.seq + 1;
      const hash = hashAuditEntry({ seq, prevHash: head.hash, event: stored });
      const reply = await this.redis.eval(APPEND_SCRIPT, 3, this.keys.audit, this.keys.auditHead, this.keys.auditDedup,
        dedupKey, String(head.seq), String(seq), hash, ...streamFields(seq, head.hash, hash, eventJson, dedupKey));
      if (!Array.isArray(reply) || typeof reply[0] !== 'string' || typeof reply[1] !== 'string') {
        throw new Error(`audit append: unexpected reply ${JSON.stringify(reply)}`);
      }
      const [status, value] = reply as string[];
      if (status === 'ok') {
        this.knownHead = { seq, hash, id: value ?? '' };
        return { ...stored, dedupKey, seq, id: value ?? '', prevHash: head.hash, hash };
      }
      if (status === 'dup') return this.entryAt(value ?? '', dedupKey);
      // Conflict: another writer moved the head; the reply carries the new head, so no re-read.
      const headSeq = Number(value);
      head = { seq: headSeq, hash: headSeq === 0 ? GENESIS_HASH : String(reply[2]), id: '' };
      await new Promise((r) => setTimeout(r, Math.random() * Math.min(20, 1 + attempt)));
    }
    throw new Error(`audit append: gave up after ${APPEND_ATTEMPTS} conflicts with concurrent writers`);
  }

  /**
   * Entries oldest first. `sinceMs` keeps events with `at >= sinceMs`, `incidentId` those of one
   * incident, `limit` the first N that match. Malformed entries are skipped here (verify() names them).
   */
  async list(query: AuditQuery = {}): Promise<AuditEntry[]> {
    const out: AuditEntry[] = [];
    const limit = query.limit ?? Number.POSITIVE_INFINITY;
    if (limit <= 0) return out;
    for (let start = '-'; ;) {
      const page = await this.redis.xrange(this.keys.audit, start, '+', 'COUNT', PAGE) as RawStreamEntry[];
      for (const raw of page) {
        const d = decodeEntry(raw);
        if (!d.ok) continue;
        if (query.sinceMs !== undefined && !(d.entry.at >= query.sinceMs)) continue;
        if (query.incidentId !== undefined && d.entry.incidentId !== query.incidentId) continue;
        out.push(d.entry);
        if (out.length >= limit) return out;
      }
      const last = page.at(-1);
      if (last === undefined || page.length < PAGE) return out;
      start = `(${last[0]}`;
    }
  }

  /** Walks the whole chain; see verifyAuditStream for what counts as broken. */
  verify(): Promise<AuditVerification> {
    return verifyAuditStream(this.redis, this.keys);
  }

  /** The entry a dedupKey already produced. */
  private async entryAt(id: string, dedupKey: string): Promise<AuditEntry> {
    const [raw] = await this.redis.xrange(this.keys.audit, id, id) as RawStreamEntry[];
    const d = raw === undefined ? null : decodeEntry(raw);
    if (d?.ok !== true) {
      throw new Error(`audit append: dedupKey ${dedupKey} already produced entry ${id}, which is ${d === null ? 'missing (deleted?)' : 'malformed'}`);
    }
    return d.entry;
  }
}
