import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { OpenIncidentResult } from '../../knowledge/knowledge-store.js';
import { incidentFingerprint, type Incident, type IncidentRemediation, type IncidentType } from '../../knowledge/model/incident.js';
import { cappedBackoffMs } from '../../knowledge/backoff.js';
import { sleep } from '../../support/abortable-sleep.js';
import { parseStored, type KnowledgeKeys } from './redis-keys.js';
import { luaCommand, type LuaCommand } from './lua-command.js';

/**
 * Incidents in Redis. Each incident is one hash with SEPARATE fields for the two writers:
 * `detection` + `rev` (analyze) and `remediation` (plan), so neither stage overwrites the other.
 * Detection changes are compare-and-set on `rev` (read in Node, write in one Lua EVAL), which is
 * safe on a connection shared by concurrent callers (WATCH is not) and keeps JSON encoding in Node
 * (Lua's cjson would re-encode millisecond timestamps in exponent notation).
 */

/**
 * KEYS: open index, new incident hash, by-openedAt zset. ARGV: fingerprint, id, detection JSON,
 * openedAt, open token, incident key prefix. Returns {opened 0|1, detection JSON}. A resend of the
 * same call (same token, after a reconnect) answers opened=1 again; an existing id is never overwritten.
 */
const OPEN_SCRIPT = `
local existing = redis.call('HGET', KEYS[1], ARGV[1])
if existing then
  local ekey = ARGV[6] .. existing
  local det = redis.call('HGET', ekey, 'detection')
  if det then
    if redis.call('HGET', ekey, 'openToken') == ARGV[5] then return {1, det} end
    return {0, det}
  end
end
local cur = redis.call('HGET', KEYS[2], 'detection')
if cur then
  if redis.call('HGET', KEYS[2], 'openToken') == ARGV[5] then return {1, cur} end
  return {0, cur}
end
redis.call('HSET', KEYS[2], 'detection', ARGV[3], 'rev', '1', 'openToken', ARGV[5])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[3], ARGV[4], ARGV[2])
return {1, ARGV[3]}
`;

/**
 * KEYS: incident hash, open index. ARGV: expected rev, new detection JSON, fingerprint, id,
 * 1 to release the open slot. Returns 1 when written, 0 when rev moved on (re-read and retry).
 */
const CAS_SCRIPT = `
if redis.call('HGET', KEYS[1], 'rev') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'detection', ARGV[2], 'rev', tostring(tonumber(ARGV[1]) + 1))
if ARGV[5] == '1' and redis.call('HGET', KEYS[2], ARGV[3]) == ARGV[4] then
  redis.call('HDEL', KEYS[2], ARGV[3])
end
return 1
`;

const CAS_ATTEMPTS = 50;

/** Incident operations of RedisKnowledgeStore (see KnowledgeStore for the contract of each). */
export class RedisIncidents {
  /** `redis` may be shared with other users; `keys` fixes the prefix. */
  private readonly openScript: LuaCommand;
  private readonly casScript: LuaCommand;

  constructor(
    private readonly redis: Redis,
    private readonly keys: KnowledgeKeys,
  ) {
    this.openScript = luaCommand(redis, 'incidentOpen', 3, OPEN_SCRIPT);
    this.casScript = luaCommand(redis, 'incidentCas', 2, CAS_SCRIPT);
  }

  /** Opens `candidate` unless an incident with the same (type, subject) is open; atomic across replicas. */
  async open(candidate: Incident): Promise<OpenIncidentResult> {
    if (candidate.status !== 'open')
      throw new Error(`openIncident: candidate ${candidate.id} has status ${candidate.status}, expected open`);
    const k = this.keys;
    const reply = await this.openScript(
      k.openIncidents,
      k.incident(candidate.id),
      k.incidentsByOpenedAt,
      incidentFingerprint(candidate.type, candidate.subject),
      candidate.id,
      JSON.stringify(candidate),
      candidate.openedAt,
      randomUUID(),
      k.incidentPrefix,
    );
    if (!Array.isArray(reply) || typeof reply[1] !== 'string') throw new Error(`openIncident: unexpected reply ${JSON.stringify(reply)}`);
    const incident = JSON.parse(reply[1]) as Incident;
    return reply[0] === 1 ? { opened: true, incident } : { opened: false, incident };
  }

  /** Resolves (idempotent: an already resolved incident is returned unchanged); null when unknown. */
  async resolve(id: string, at: number, reason: string): Promise<Incident | null> {
    const resolved = await this.update(id, (inc) =>
      inc.status === 'resolved'
        ? null
        : {
            ...inc,
            status: 'resolved',
            resolvedAt: at,
            history: [...inc.history, { at, from: 'open', to: 'resolved', reason }],
          },
    );
    // GT: a late or repeated resolve never moves the time back.
    if (resolved?.status === 'resolved')
      await this.redis.zadd(this.keys.lastResolvedByType, 'GT', resolved.resolvedAt ?? at, resolved.type);
    return resolved;
  }

  /** When an incident of `type` was last resolved, or null. */
  async lastResolvedAt(type: IncidentType): Promise<number | null> {
    const score = await this.redis.zscore(this.keys.lastResolvedByType, type);
    return score === null ? null : Number(score);
  }

  /** Replaces evidence and explanation of an open incident; a resolved or unknown one is left alone. */
  async updateEvidence(id: string, evidence: Incident['evidence'], explanation: string, cause?: Incident['cause']): Promise<void> {
    await this.update(id, (inc) =>
      inc.status === 'open' ? { ...inc, evidence, explanation, ...(cause === undefined ? {} : { cause }) } : null,
    );
  }

  /** Sets or clears recoveringSince of an open incident, recording the transition in its history. */
  async setRecovering(id: string, since: number | null, at: number, reason: string): Promise<void> {
    await this.update(id, (inc) => {
      if (inc.status !== 'open' || (inc.recoveringSince ?? null) === since) return null;
      const [from, to] = since === null ? ['recovering', 'open'] : ['open', 'recovering'];
      return { ...inc, recoveringSince: since, history: [...inc.history, { at, from, to, reason }] };
    });
  }

  /** The incident's detection record, or null. */
  async get(id: string): Promise<Incident | null> {
    return parseStored(await this.redis.hget(this.keys.incident(id), 'detection')) as Incident | null;
  }

  /** The open incident for (type, subject), or null. */
  async findOpen(type: IncidentType, subject: string): Promise<Incident | null> {
    const id = await this.redis.hget(this.keys.openIncidents, incidentFingerprint(type, subject));
    if (id === null) return null;
    const inc = await this.get(id);
    return inc?.status === 'open' ? inc : null;
  }

  /** Incidents ordered by openedAt (then id); `status` filters. */
  async list(status?: Incident['status']): Promise<Incident[]> {
    const ids =
      status === 'open'
        ? await this.redis.hvals(this.keys.openIncidents)
        : await this.redis.zrange(this.keys.incidentsByOpenedAt, '0', '-1');
    if (ids.length === 0) return [];
    const pipe = this.redis.pipeline();
    for (const id of ids) pipe.hget(this.keys.incident(id), 'detection');
    const replies = (await pipe.exec()) ?? [];
    const out: Incident[] = [];
    for (const [err, text] of replies) {
      if (err !== null) throw err;
      const inc = parseStored(text as string | null) as Incident | null;
      if (inc !== null && (status === undefined || inc.status === status)) out.push(inc);
    }
    return out.sort((a, b) => a.openedAt - b.openedAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  /** Plan's remediation record: its own hash field, so analyze's writes never touch it. */
  async setRemediation(incidentId: string, r: IncidentRemediation): Promise<void> {
    await this.redis.hset(this.keys.incident(incidentId), 'remediation', JSON.stringify(r));
  }

  /** Plan's remediation record, or null. */
  async getRemediation(incidentId: string): Promise<IncidentRemediation | null> {
    return parseStored(await this.redis.hget(this.keys.incident(incidentId), 'remediation')) as IncidentRemediation | null;
  }

  /**
   * Read-modify-write of the detection record with compare-and-set on `rev`. `change` returns the
   * new record, or null for "nothing to do". Returns the record as finally stored; null when unknown.
   */
  private async update(id: string, change: (inc: Incident) => Incident | null): Promise<Incident | null> {
    const key = this.keys.incident(id);
    for (let attempt = 0; attempt < CAS_ATTEMPTS; attempt++) {
      const [text, rev] = await this.redis.hmget(key, 'detection', 'rev');
      const current = parseStored(text) as Incident | null;
      if (current === null || rev === null || rev === undefined) return null;
      const next = change(current);
      if (next === null) return current;
      const releaseSlot = current.status === 'open' && next.status === 'resolved' ? '1' : '0';
      const written = await this.casScript(
        key,
        this.keys.openIncidents,
        rev,
        JSON.stringify(next),
        incidentFingerprint(next.type, next.subject),
        id,
        releaseSlot,
      );
      if (written === 1) return next;
      await sleep(Math.random() * cappedBackoffMs(1, 50, attempt));
    }
    throw new Error(`incident ${id}: gave up after ${CAS_ATTEMPTS} concurrent-update conflicts`);
  }
}
