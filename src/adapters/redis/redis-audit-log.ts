import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import {
  GENESIS_HASH,
  type AuditEntry,
  type AuditEventInput,
  type AuditLog,
  type AuditQuery,
  type AuditVerification,
} from '../../knowledge/audit.js';
import { canonicalJson, hashAuditEntry } from '../../knowledge/audit-hash.js';
import { sleep } from '../../support/abortable-sleep.js';
import { decodeEntry, streamFields, type RawStreamEntry } from './redis-audit-entry.js';
import { readAuditHead, verifyAuditStream } from './redis-audit-verify.js';
import { knowledgeKeys, type KnowledgeKeys } from './redis-keys.js';
import { luaCommand, type LuaCommand } from './lua-command.js';

/**
 * Appends a batch of entries, all or none. KEYS: stream, head, dedup. ARGV: expected head seq,
 * entry count, then per entry: dedupKey, seq, hash, field count, the stream entry's field/value
 * pairs. Returns {'dup', i, id} if entry i's dedupKey already produced an entry (a resend after
 * reconnect, or a repeated step; nothing is appended), {'conflict', seq, hash} if another writer
 * moved the head, else appends every entry, records its dedupKey, moves the head to the last one
 * in one atomic step and returns {'ok', id1, id2, ...}.
 */
const APPEND_BATCH_SCRIPT = `
local n = tonumber(ARGV[2])
local entries = {}
local pos = 3
for i = 1, n do
  local nf = tonumber(ARGV[pos + 3])
  entries[i] = {ARGV[pos], ARGV[pos + 1], ARGV[pos + 2], pos + 4, nf}
  local dup = redis.call('HGET', KEYS[3], ARGV[pos])
  if dup then return {'dup', tostring(i), dup} end
  pos = pos + 4 + nf
end
local head = redis.call('HMGET', KEYS[2], 'seq', 'hash')
if (head[1] or '0') ~= ARGV[1] then return {'conflict', head[1] or '0', head[2] or ''} end
local out = {'ok'}
local last
for i = 1, n do
  local e = entries[i]
  local id = redis.call('XADD', KEYS[1], '*', unpack(ARGV, e[4], e[4] + e[5] - 1))
  redis.call('HSET', KEYS[3], e[1], id)
  out[#out + 1] = id
  last = {e[2], e[3], id}
end
redis.call('HSET', KEYS[2], 'seq', last[1], 'hash', last[2], 'id', last[3])
return out
`;

const APPEND_ATTEMPTS = 200;
const PAGE = 500;
/** At most this many entries go to Redis in one script call. */
const MAX_BATCH = 64;

/** One append waiting for its batch. */
interface PendingAppend {
  readonly dedupKey: string;
  readonly eventJson: string;
  /** What verify() will read back: the canonical JSON, parsed. */
  readonly stored: AuditEventInput;
  readonly resolve: (e: AuditEntry) => void;
  readonly reject: (e: unknown) => void;
}

/**
 * The audit log on a Redis stream, hash-chained: each entry carries seq, the previous entry's hash
 * and its own hash (computed in Node: Lua has no sha256). Appends are exactly-once per dedupKey and
 * serialised by an optimistic check on the head's seq, so any number of replicas and connections
 * can append concurrently and the chain stays gap-free. Appends from one process that arrive while
 * another is on its way are sent together in one atomic script call (group commit), so concurrent
 * jobs do not queue behind each other's round trips. Keys: see redis-knowledge-store.ts.
 */
export class RedisAuditLog implements AuditLog {
  private readonly keys: KnowledgeKeys;
  /** Appends not yet sent, in call order. */
  private pending: PendingAppend[] = [];
  /** True while a batch is on its way; appends arriving meanwhile form the next batch. */
  private flushing = false;
  /** Last head this process wrote or learned; a stale guess just costs one conflict reply. */
  private knownHead: { seq: number; hash: string; id: string } | null = null;
  private readonly appendScript: LuaCommand;

  /** `redis` may be shared with the knowledge store; the log never closes it. */
  constructor(
    private readonly redis: Redis,
    readonly keyPrefix: string,
  ) {
    this.keys = knowledgeKeys(keyPrefix);
    this.appendScript = luaCommand(redis, 'auditAppendBatch', 3, APPEND_BATCH_SCRIPT);
  }

  /**
   * Appends `event` and returns the stored entry. If its dedupKey (default: a fresh random id) was
   * already appended, returns that earlier entry and appends nothing. Entries of one process keep
   * the order of the calls.
   */
  append(event: AuditEventInput): Promise<AuditEntry> {
    const { dedupKey = randomUUID(), ...rest } = event;
    const eventJson = canonicalJson(rest);
    return new Promise<AuditEntry>((resolve, reject) => {
      this.pending.push({ dedupKey, eventJson, stored: JSON.parse(eventJson) as AuditEventInput, resolve, reject });
      if (!this.flushing) void this.flush();
    });
  }

  /** Sends pending appends, a batch at a time, until none are left. Never rejects. */
  private async flush(): Promise<void> {
    this.flushing = true;
    try {
      while (this.pending.length > 0) {
        // One entry per dedupKey in a batch: a repeat waits for the next batch, where it resolves as a dup.
        const batch: PendingAppend[] = [];
        const keys = new Set<string>();
        const rest: PendingAppend[] = [];
        for (const p of this.pending) {
          if (batch.length < MAX_BATCH && !keys.has(p.dedupKey)) {
            batch.push(p);
            keys.add(p.dedupKey);
          } else rest.push(p);
        }
        this.pending = rest;
        try {
          await this.appendBatch(batch);
        } catch (err: unknown) {
          // The script is atomic: nothing of this batch was written (or a resend is caught by dedup later).
          this.knownHead = null;
          for (const p of batch) p.reject(err);
        }
      }
    } finally {
      this.flushing = false;
    }
  }

  /** Appends `batch` in order; resolves each entry (dups with the entry they already produced). */
  private async appendBatch(initial: readonly PendingAppend[]): Promise<void> {
    let batch = [...initial];
    let head = this.knownHead ?? (await readAuditHead(this.redis, this.keys));
    for (let attempt = 0; batch.length > 0; attempt++) {
      if (attempt >= APPEND_ATTEMPTS) throw new Error(`audit append: gave up after ${APPEND_ATTEMPTS} conflicts with concurrent writers`);
      const chained: { p: PendingAppend; seq: number; prevHash: string; hash: string }[] = [];
      const args: string[] = [String(head.seq), String(batch.length)];
      let prevHash = head.hash;
      for (const [i, p] of batch.entries()) {
        const seq = head.seq + 1 + i;
        const hash = hashAuditEntry({ seq, prevHash, event: p.stored });
        const fields = streamFields(seq, prevHash, hash, p.eventJson, p.dedupKey);
        args.push(p.dedupKey, String(seq), hash, String(fields.length), ...fields);
        chained.push({ p, seq, prevHash, hash });
        prevHash = hash;
      }
      const reply = await this.appendScript(this.keys.audit, this.keys.auditHead, this.keys.auditDedup, ...args);
      if (!Array.isArray(reply) || reply.some((x) => typeof x !== 'string'))
        throw new Error(`audit append: unexpected reply ${JSON.stringify(reply)}`);
      const [status, ...values] = reply as string[];
      if (status === 'ok') {
        for (const [i, c] of chained.entries()) {
          const id = values[i] ?? '';
          c.p.resolve({ ...c.p.stored, dedupKey: c.p.dedupKey, seq: c.seq, id, prevHash: c.prevHash, hash: c.hash });
        }
        const last = chained.at(-1);
        if (last !== undefined) this.knownHead = { seq: last.seq, hash: last.hash, id: values.at(-1) ?? '' };
        return;
      }
      if (status === 'dup') {
        // That entry was appended before: answer it with the stored entry and send the others again.
        const index = Number(values[0]) - 1;
        const dup = batch[index];
        if (dup !== undefined) {
          try {
            dup.resolve(await this.entryAt(values[1] ?? '', dup.dedupKey));
          } catch (err: unknown) {
            dup.reject(err);
          }
        }
        batch = batch.filter((_, i) => i !== index);
        continue;
      }
      // Conflict: another writer moved the head; the reply carries the new head, so no re-read.
      const headSeq = Number(values[0]);
      head = { seq: headSeq, hash: headSeq === 0 ? GENESIS_HASH : String(values[1]), id: '' };
      await sleep(Math.random() * Math.min(20, 1 + attempt));
    }
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
      const page = (await this.redis.xrange(this.keys.audit, start, '+', 'COUNT', PAGE)) as RawStreamEntry[];
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
    const [raw] = (await this.redis.xrange(this.keys.audit, id, id)) as RawStreamEntry[];
    const d = raw === undefined ? null : decodeEntry(raw);
    if (d?.ok !== true) {
      throw new Error(
        `audit append: dedupKey ${dedupKey} already produced entry ${id}, which is ${d === null ? 'missing (deleted?)' : 'malformed'}`,
      );
    }
    return d.entry;
  }
}
