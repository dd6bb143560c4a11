/**
 * RedisKnowledgeStore: the KnowledgeStore on Redis, shared by all stages and all daemon replicas.
 *
 * Key layout (P = keyPrefix; several daemons/simulations/tests share one Redis under distinct P;
 * wipeKeyPrefix(P) removes them all). Names are built in redis-keys.ts.
 *
 *   P:workloads              hash    workload id -> Workload JSON
 *   P:obs                    hash    JSON ["<subject>","<source>"] -> latest Observation JSON (with stateSince)
 *   P:obs-state              hash    same field -> "<stateSince>|<observationStateKey>"
 *   P:incidents              zset    incident id, score openedAt (every incident, for listing)
 *   P:incidents:open         hash    incidentFingerprint(type, subject) -> id of the open incident
 *   P:incident:<id>          hash    detection   -> Incident JSON (analyze: open/evidence/resolve)
 *                                    rev         -> detection revision (compare-and-set counter)
 *                                    openToken   -> random id of the openIncident call that created it
 *                                    remediation -> IncidentRemediation JSON (plan only)
 *   P:incident-runs:<id>     set     action run ids of the incident
 *   P:run:<runId>            hash    json -> ActionRun JSON, rank -> 0 queued | 1 running | 2 terminal
 *   P:plan:<id>              string  PlanSnapshotRecord JSON
 *   P:plans:in-flight        hash    incident id -> InFlightPlan JSON (plans holding a concurrency slot)
 *   P:incidents:last-resolved zset   incident type, score when one was last resolved
 *   P:control                string  ControlState JSON (absent = not paused)
 *   P:ledger:entries         hash    entry id (job id) -> LedgerEntry JSON as first recorded (actions plan started)
 *   P:ledger:playbook:<name> zset    entry id, score at of its first record (a day kept)
 *   P:ledger:subject:<subj>  zset    entry id, score at of its first record (a day kept)
 *   P:approval:<id>          string  Approval JSON, expiring at its TTL
 *   P:audit                  stream  audit entries: seq, prevHash, hash, event (canonical JSON)
 *   P:audit:head             hash    seq, hash of the last appended entry
 *   P:audit:dedup            hash    dedupKey -> stream id of the entry it produced
 *
 * Incident ids never contain ':', so P:incident:<id> cannot collide with other keys. On Redis
 * Cluster, give P a hash tag ("{healer}") so the Lua scripts' keys share a slot.
 */
import type { Redis } from 'ioredis';
import type { ActionRun, ActionRunState } from '../../knowledge/model/action-run.js';
import type { Incident, IncidentRemediation, IncidentType } from '../../knowledge/model/incident.js';
import type { Observation, ObservationSource } from '../../knowledge/model/observation.js';
import { observationStateKey } from '../../knowledge/model/observation.js';
import type { Workload } from '../../knowledge/model/workload.js';
import type {
  Approval,
  ControlState,
  InFlightPlan,
  KnowledgeStore,
  LedgerEntry,
  OpenIncidentResult,
  PlanSnapshotRecord,
  RecordResult,
} from '../../knowledge/knowledge-store.js';
import { RedisIncidents } from './redis-incidents.js';
import { luaCommand, type LuaCommand } from './lua-command.js';
import { knowledgeKeys, parseStored, type KnowledgeKeys } from './redis-keys.js';

/**
 * KEYS: obs hash. ARGV: field, observation JSON, observedAt. Swaps in the new observation and
 * returns the previous one ('' if none), atomically. An observation older than the stored one
 * (a slow replica) is not stored: returns {previous, 0}.
 */
const RECORD_OBSERVATION_SCRIPT = `
local prev = redis.call('HGET', KEYS[1], ARGV[1])
if prev then
  local ok, decoded = pcall(cjson.decode, prev)
  if ok and type(decoded) == 'table' and tonumber(decoded.observedAt) and tonumber(decoded.observedAt) > tonumber(ARGV[3]) then
    return {prev, 0}
  end
end
local since = ARGV[3]
local st = redis.call('HGET', KEYS[2], ARGV[1])
if st then
  local bar = string.find(st, '|', 1, true)
  if bar and string.sub(st, bar + 1) == ARGV[4] then since = string.sub(st, 1, bar - 1) end
end
redis.call('HSET', KEYS[2], ARGV[1], since .. '|' .. ARGV[4])
redis.call('HSET', KEYS[1], ARGV[1], '{"stateSince":' .. since .. string.sub(ARGV[2], 17))
return {prev or '', 1}
`;
/**
 * KEYS: run hash, incident's run set. ARGV: run JSON, rank, run id. Writes unless the stored run
 * is further along (rank), so a late 'queued' write never undoes 'running' or a terminal state.
 */
const PUT_RUN_SCRIPT = `
local cur = tonumber(redis.call('HGET', KEYS[1], 'rank') or '-1')
if cur > tonumber(ARGV[2]) then return 0 end
redis.call('HSET', KEYS[1], 'json', ARGV[1], 'rank', ARGV[2])
redis.call('SADD', KEYS[2], ARGV[3])
return 1
`;

/**
 * KEYS: ledger entries hash, playbook zset, subject zset. ARGV: entry id, at, entry JSON, cutoff.
 * Records the entry unless its id is already recorded (the first record, and its `at`, wins),
 * then drops entries of both sets scored before the cutoff (and their JSON).
 */
const RECORD_LEDGER_SCRIPT = `
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[3]) == 1 then
  redis.call('ZADD', KEYS[2], 'NX', ARGV[2], ARGV[1])
  redis.call('ZADD', KEYS[3], 'NX', ARGV[2], ARGV[1])
end
for i = 2, 3 do
  local old = redis.call('ZRANGEBYSCORE', KEYS[i], '-inf', '(' .. ARGV[4])
  for _, member in ipairs(old) do
    redis.call('ZREM', KEYS[i], member)
    redis.call('HDEL', KEYS[1], member)
  end
end
return 1
`;

const runRank: Record<ActionRunState, number> = { queued: 0, running: 1, succeeded: 2, failed: 2, skipped: 2 };

const defaultControl: ControlState = { paused: false, reason: '', since: null };

/**
 * The knowledge base on Redis. All keys live under `keyPrefix` (layout above). Last-writer-wins per
 * field, except: openIncident is atomic per (type, subject); detection updates are compare-and-set;
 * recordObservation ignores observations older than the stored one; putActionRun never moves a run
 * backwards (queued < running < succeeded/failed/skipped).
 */
export class RedisKnowledgeStore implements KnowledgeStore {
  private readonly keys: KnowledgeKeys;
  private readonly incidents: RedisIncidents;

  /** `redis` may be shared (with RedisAuditLog, other prefixes); the store never closes it. */
  constructor(
    private readonly redis: Redis,
    readonly keyPrefix: string,
  ) {
    this.keys = knowledgeKeys(keyPrefix);
    this.incidents = new RedisIncidents(redis, this.keys);
    this.recordObservationScript = luaCommand(redis, 'recordObservation', 2, RECORD_OBSERVATION_SCRIPT);
    this.putRunScript = luaCommand(redis, 'putActionRun', 2, PUT_RUN_SCRIPT);
    this.recordLedgerScript = luaCommand(redis, 'recordLedgerEntry', 3, RECORD_LEDGER_SCRIPT);
  }

  private readonly recordObservationScript: LuaCommand;
  private readonly putRunScript: LuaCommand;
  private readonly recordLedgerScript: LuaCommand;

  async putWorkload(w: Workload): Promise<void> {
    await this.redis.hset(this.keys.workloads, w.id, JSON.stringify(w));
  }

  async removeWorkload(id: string): Promise<boolean> {
    return (await this.redis.hdel(this.keys.workloads, id)) > 0;
  }

  async getWorkload(id: string): Promise<Workload | null> {
    return parseStored(await this.redis.hget(this.keys.workloads, id)) as Workload | null;
  }

  async listWorkloads(): Promise<Workload[]> {
    const all = await this.redis.hvals(this.keys.workloads);
    return all.map((t) => JSON.parse(t) as Workload).sort((a, b) => compareStrings(a.id, b.id));
  }

  async recordObservation(o: Observation): Promise<RecordResult> {
    // The stored JSON starts with a placeholder the script replaces by the time the state began.
    const { stateSince: _ignored, ...rest } = o;
    const json = JSON.stringify({ stateSince: -1, ...rest });
    const reply = await this.recordObservationScript(
      this.keys.observations,
      this.keys.observationStates,
      observationField(o.subject, o.source),
      json,
      Math.round(o.observedAt),
      observationStateKey(o),
    );
    if (!Array.isArray(reply) || typeof reply[0] !== 'string')
      throw new Error(`recordObservation: unexpected reply ${JSON.stringify(reply)}`);
    const previous = reply[0] === '' ? null : (JSON.parse(reply[0]) as Observation);
    if (reply[1] === 0) return { changed: false, previous };
    return { changed: previous === null || observationStateKey(previous) !== observationStateKey(o), previous };
  }

  async latestObservation(subject: string, source: ObservationSource): Promise<Observation | null> {
    return parseStored(await this.redis.hget(this.keys.observations, observationField(subject, source))) as Observation | null;
  }

  async listLatestObservations(): Promise<Observation[]> {
    const all = await this.redis.hvals(this.keys.observations);
    return all
      .map((t) => JSON.parse(t) as Observation)
      .sort((a, b) => compareStrings(a.subject, b.subject) || compareStrings(a.source, b.source));
  }

  openIncident(candidate: Incident): Promise<OpenIncidentResult> {
    return this.incidents.open(candidate);
  }

  resolveIncident(id: string, at: number, reason: string): Promise<Incident | null> {
    return this.incidents.resolve(id, at, reason);
  }

  setRecovering(id: string, since: number | null, at: number, reason: string): Promise<void> {
    return this.incidents.setRecovering(id, since, at, reason);
  }

  updateIncidentEvidence(id: string, evidence: Incident['evidence'], explanation: string, cause?: Incident['cause']): Promise<void> {
    return this.incidents.updateEvidence(id, evidence, explanation, cause);
  }

  getIncident(id: string): Promise<Incident | null> {
    return this.incidents.get(id);
  }

  findOpenIncident(type: IncidentType, subject: string): Promise<Incident | null> {
    return this.incidents.findOpen(type, subject);
  }

  listIncidents(filter?: { readonly status?: Incident['status'] }): Promise<Incident[]> {
    return this.incidents.list(filter?.status);
  }

  lastResolvedAt(type: IncidentType): Promise<number | null> {
    return this.incidents.lastResolvedAt(type);
  }

  setRemediation(incidentId: string, r: IncidentRemediation): Promise<void> {
    return this.incidents.setRemediation(incidentId, r);
  }

  getRemediation(incidentId: string): Promise<IncidentRemediation | null> {
    return this.incidents.getRemediation(incidentId);
  }

  async putActionRun(run: ActionRun): Promise<void> {
    await this.putRunScript(
      this.keys.actionRun(run.id),
      this.keys.incidentRuns(run.incidentId),
      JSON.stringify(run),
      runRank[run.state],
      run.id,
    );
  }

  async getActionRun(id: string): Promise<ActionRun | null> {
    return parseStored(await this.redis.hget(this.keys.actionRun(id), 'json')) as ActionRun | null;
  }

  async listActionRuns(incidentId: string): Promise<ActionRun[]> {
    const ids = await this.redis.smembers(this.keys.incidentRuns(incidentId));
    if (ids.length === 0) return [];
    const pipe = this.redis.pipeline();
    for (const id of ids) pipe.hget(this.keys.actionRun(id), 'json');
    const runs: ActionRun[] = [];
    for (const [err, text] of (await pipe.exec()) ?? []) {
      if (err !== null) throw err;
      const run = parseStored(text as string | null) as ActionRun | null;
      if (run !== null) runs.push(run);
    }
    return runs.sort((a, b) => a.step - b.step || a.attempt - b.attempt || compareStrings(a.id, b.id));
  }

  async savePlanSnapshot(incidentId: string, rec: PlanSnapshotRecord): Promise<void> {
    const tx = this.redis.multi().set(this.keys.planSnapshot(incidentId), JSON.stringify(rec));
    if (rec.inFlight !== undefined && rec.inFlight !== null) tx.hset(this.keys.plansInFlight, incidentId, JSON.stringify(rec.inFlight));
    else tx.hdel(this.keys.plansInFlight, incidentId);
    await tx.exec();
  }

  async loadPlanSnapshot(incidentId: string): Promise<PlanSnapshotRecord | null> {
    return parseStored(await this.redis.get(this.keys.planSnapshot(incidentId))) as PlanSnapshotRecord | null;
  }

  async deletePlanSnapshot(incidentId: string): Promise<void> {
    await this.redis.multi().del(this.keys.planSnapshot(incidentId)).hdel(this.keys.plansInFlight, incidentId).exec();
  }

  async listInFlightPlans(): Promise<InFlightPlan[]> {
    return (await this.redis.hvals(this.keys.plansInFlight)).map((t) => JSON.parse(t) as InFlightPlan);
  }

  async getControl(): Promise<ControlState> {
    return (parseStored(await this.redis.get(this.keys.control)) as ControlState | null) ?? defaultControl;
  }

  async setControl(c: ControlState): Promise<void> {
    await this.redis.set(this.keys.control, JSON.stringify(c));
  }

  async recordLedgerEntry(e: LedgerEntry): Promise<void> {
    const json = JSON.stringify({ id: e.id, playbook: e.playbook, subject: e.subject, incidentId: e.incidentId, at: e.at });
    await this.recordLedgerScript(
      this.keys.ledgerEntries,
      this.keys.ledgerByPlaybook(e.playbook),
      this.keys.ledgerBySubject(e.subject),
      e.id,
      e.at,
      json,
      e.at - LEDGER_KEEP_MS,
    );
  }

  async countLedgerEntries(scope: { readonly playbook: string } | { readonly subject: string }, since: number): Promise<number> {
    const key = 'playbook' in scope ? this.keys.ledgerByPlaybook(scope.playbook) : this.keys.ledgerBySubject(scope.subject);
    return this.redis.zcount(key, String(since), '+inf');
  }

  async ledgerEntriesBefore(
    scope: { readonly playbook: string } | { readonly subject: string },
    id: string,
    since: number,
  ): Promise<number | null> {
    const key = 'playbook' in scope ? this.keys.ledgerByPlaybook(scope.playbook) : this.keys.ledgerBySubject(scope.subject);
    const score = await this.redis.zscore(key, id);
    if (score === null) return null;
    return Number(score) < since ? 0 : this.redis.zcount(key, String(since), `(${score}`);
  }

  async lastLedgerEntry(subject: string): Promise<LedgerEntry | null> {
    const [last] = await this.redis.zrange(this.keys.ledgerBySubject(subject), '-1', '-1');
    if (last === undefined) return null;
    // Members written before entries were keyed by id are the entry JSON itself.
    if (last.startsWith('{')) return parseStored(last) as LedgerEntry;
    // Null only when the entry was dropped as older than a day by another set's record.
    return parseStored(await this.redis.hget(this.keys.ledgerEntries, last)) as LedgerEntry | null;
  }

  async putApproval(a: Approval): Promise<void> {
    // Redis expiry only cleans up; plan compares expiresAt with its own clock.
    const ttl = Math.max(60_000, a.expiresAt - Date.now());
    await this.redis.set(this.keys.approval(a.incidentId), JSON.stringify(a), 'PX', ttl);
  }

  async getApproval(incidentId: string): Promise<Approval | null> {
    return parseStored(await this.redis.get(this.keys.approval(incidentId))) as Approval | null;
  }
}

/** Hash field of the latest observation of (subject, source): a JSON pair, unambiguous whatever the strings hold. */
function observationField(subject: string, source: ObservationSource): string {
  return JSON.stringify([subject, source]);
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** How long ledger entries are kept: longer than any sensible budget window. */
const LEDGER_KEEP_MS = 24 * 3_600_000;
