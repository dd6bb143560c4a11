/**
 * force_rotation on an agent: evict it through the SPIRE Server Agent API (DeleteAgent, never
 * BanAgent) so that it attests again, gets a new agent SVID and mints its workload SVIDs anew
 * (wire facts §6.6). Only for an agent that can re-attest, is not banned, and is behind now.
 * With Kubernetes configured, the eviction is recorded as an Event on the node's SPIRE agent pod.
 */
import { errorMessage } from '../../knowledge/error-text.js';
import { rethrowWithContext } from '../../knowledge/errors/classified-error.js';
import type { RemediationRequest } from '../../knowledge/model/action-run.js';
import type { Workload } from '../../knowledge/model/workload.js';
import { nodeOfAgentRecord } from '../../knowledge/spire-agent-node.js';
import { agentNodeOf, agentSubject, subjectKindOf } from '../../knowledge/subject-ref.js';
import { formatDuration, isoTime, rotationStatus } from '../../knowledge/svid-rotation.js';
import type { KubePod } from '../../ports/kubernetes.port.js';
import type { SpireAgentRecord, SpireServerPort } from '../../ports/spire.port.js';
import { agentRecordMarkedSimulated, PermanentActionError, resolveWorkloadTarget, type ActionContext, type Precheck } from '../action.js';
import { sleep } from '../../support/abortable-sleep.js';
import { EVENT_REASONS, needSpireServer, platformScopeRefusal, recordActionEvent } from './kube-events.js';
import type { AgentProbePorts } from './restart-agent.action.js';
import { durationParam, spireCode, textParam } from './step-params.js';

/** Agent pod annotation naming the agent's admin socket (see monitor/apply-kubernetes-inventory.ts). */
const ADMIN_ENDPOINT_ANNOTATION = 'spire-healer.io/agent-admin-endpoint';

/** The agent a job is about. */
interface AgentTarget {
  readonly agentId: string;
  /** Its node, when known. */
  readonly node: string | null;
  /** The workload the job names, when it names one. */
  readonly workload: Workload | null;
}

/** The agent's SPIFFE ID as the monitor last saw it (server ListAgents, then Debug GetInfo). */
async function agentIdFromKnowledge(ctx: ActionContext, node: string): Promise<string | undefined> {
  const server = await ctx.store.latestObservation(agentSubject(node), 'spire.server.agent');
  if (server?.data.kind === 'spire.server.agent' && server.data.agentId !== '') return server.data.agentId;
  const debug = await ctx.store.latestObservation(agentSubject(node), 'spire.agent.debug');
  if (debug?.data.kind === 'spire.agent' && debug.data.agentId !== '') return debug.data.agentId;
  return undefined;
}

/** Which agent the job names: param agentId, the workload's agentId, knowledge, or the server's list (by node). */
async function resolveAgent(
  job: RemediationRequest,
  ctx: ActionContext,
  server: SpireServerPort,
  signal: AbortSignal,
): Promise<AgentTarget | { readonly skip: Precheck }> {
  let node = agentNodeOf(job.target);
  let workload: Workload | null = null;
  let agentId = textParam(job, 'agentId');
  if (node === null) {
    if (subjectKindOf(job.target) === 'trust-domain') {
      return { skip: { proceed: false, detail: `agent eviction acts on agent:<node> or workload targets; ${job.target} is not one` } };
    }
    const r = await resolveWorkloadTarget(job, ctx, signal);
    if ('skip' in r) return r;
    workload = r.workload;
    node = workload.node ?? null;
    agentId ??= workload.agentId;
  }
  if (agentId === undefined && node !== null) agentId = await agentIdFromKnowledge(ctx, node);
  if (agentId === undefined && node !== null) {
    const all = await server.listAgents(undefined, signal);
    const n = node;
    agentId = all.find((a) => nodeOfAgentRecord(a) === n)?.spiffeId;
  }
  if (agentId === undefined) {
    return {
      skip: {
        proceed: false,
        detail: `cannot tell which SPIRE agent serves ${job.target}: no agentId parameter, none in the inventory, and the server lists no agent for node ${node ?? '(unknown)'}`,
      },
    };
  }
  const td = /^spiffe:\/\/([^/]+)\//.exec(agentId)?.[1];
  if (td === undefined) throw new PermanentActionError(`force_rotation: agent ID "${agentId}" is not a SPIFFE ID`);
  const refusal = platformScopeRefusal(`SPIRE agent ${agentId}`, { trustDomain: td }, ctx.scope);
  if (refusal !== null) return { skip: { proceed: false, detail: refusal } };
  return { agentId, node, workload };
}

/** GetAgent, or null when the server has no record of it (NotFound). */
async function readAgent(server: SpireServerPort, agentId: string, signal: AbortSignal): Promise<SpireAgentRecord | null> {
  try {
    return await server.getAgent(agentId, signal);
  } catch (e: unknown) {
    if (spireCode(e) === 'NOT_FOUND') return null;
    throw e;
  }
}

/**
 * Why the agent cannot be evicted: outside the scope (its record judged for the simulated fleet's marker), banned, cannot re-attest;
 * or null.
 */
function refusalOf(rec: SpireAgentRecord, ctx: ActionContext): string | null {
  const fleet = platformScopeRefusal(`SPIRE agent ${rec.spiffeId}`, { simulated: agentRecordMarkedSimulated(rec) }, ctx.scope);
  if (fleet !== null) return fleet;
  if (rec.banned) {
    return `SPIRE agent ${rec.spiffeId} is banned: an operator blocked it, and DeleteAgent would lift that ban. Not evicting; lift the ban deliberately if it should come back`;
  }
  if (!rec.canReattest) {
    return `SPIRE agent ${rec.spiffeId} (attested by ${rec.attestationType}) cannot re-attest: an eviction would lock it out until someone attests it again by hand. Not evicting`;
  }
  return null;
}

const ago = (ms: number): string => `${formatDuration(Math.max(0, ms))} ago`;

/** The agent's last successful sync: live Debug GetInfo when the context can reach it, else the monitor's fresh reading. */
async function lastSync(
  job: RemediationRequest,
  ctx: ActionContext,
  t: AgentTarget,
  maxAgeMs: number,
  signal: AbortSignal,
): Promise<{ readonly ms: number; readonly how: string } | string | null> {
  if (t.node === null) return null;
  const debug = (ctx as ActionContext & AgentProbePorts).agentDebug ?? null;
  let admin = textParam(job, 'adminEndpoint');
  if (admin === undefined && debug !== null && ctx.kubernetes !== undefined && ctx.kubernetes !== null) {
    const pod = await ctx.kubernetes.getAgentPod(t.node).catch(() => null);
    admin = pod?.annotations[ADMIN_ENDPOINT_ANNOTATION];
  }
  if (debug !== null && admin !== undefined && admin !== '') {
    try {
      return { ms: (await debug.getInfo(admin, signal)).lastSyncSuccessMs, how: `Debug GetInfo on ${admin}` };
    } catch (e: unknown) {
      return `Debug GetInfo on ${admin} failed (${errorMessage(e)})`;
    }
  }
  const o = await ctx.store.latestObservation(agentSubject(t.node), 'spire.agent.debug');
  if (o?.data.kind !== 'spire.agent' || ctx.clock.now() - o.observedAt > maxAgeMs) return null;
  return { ms: o.data.lastSyncSuccessMs, how: `Debug GetInfo read by the monitor ${ago(ctx.clock.now() - o.observedAt)}` };
}

/** What makes the agent behind (each one a reason to evict), and what is fine. */
async function judge(
  job: RemediationRequest,
  ctx: ActionContext,
  t: AgentTarget,
  rec: SpireAgentRecord,
  signal: AbortSignal,
): Promise<{ behind: string[]; fine: string[] }> {
  const now = ctx.clock.now();
  const behind: string[] = [];
  const fine: string[] = [];
  if (rec.svidExpiresAtMs <= now) behind.push(`its own SVID (serial ${rec.serialHex}) expired at ${isoTime(rec.svidExpiresAtMs)}`);
  else fine.push(`its own SVID (serial ${rec.serialHex}) is valid until ${isoTime(rec.svidExpiresAtMs)}`);
  const maxSyncAge = durationParam(job, 'maxSyncAge', 30_000, 1_000, 86_400_000);
  const sync = await lastSync(job, ctx, t, maxSyncAge, signal);
  if (typeof sync === 'string') fine.push(sync);
  else if (sync !== null && (sync.ms === 0 || now - sync.ms > maxSyncAge))
    behind.push(`its last sync with the server was ${sync.ms === 0 ? 'never' : ago(now - sync.ms)} (${sync.how})`);
  else if (sync !== null) fine.push(`it synced ${ago(now - sync.ms)}`);
  const workloads =
    t.workload !== null ? [t.workload] : (await ctx.store.listWorkloads()).filter((w) => t.node !== null && w.node === t.node);
  let current = 0;
  for (const w of workloads) {
    const o = await ctx.store.latestObservation(w.id, 'spire.delegated.svid');
    const svid = o?.data.kind === 'spire.svid' ? o.data.svid : null;
    if (svid === null) continue;
    const st = rotationStatus(svid, now, ctx.rotation);
    if (st.overdue)
      behind.push(
        `it still holds SVID serial ${svid.serialNumber} of ${w.id}, due for rotation since ${isoTime(st.rotateByMs)}${st.expired ? ' (expired)' : ''}`,
      );
    else current += 1;
  }
  if (current > 0) fine.push(`the ${current} workload SVID(s) it holds are current`);
  return { behind, fine };
}

/** Precheck of the eviction: reads the agent live (GetAgent) and proceeds only for an agent that is behind and can come back. */
export async function precheckEviction(job: RemediationRequest, ctx: ActionContext, signal: AbortSignal): Promise<Precheck> {
  const server = needSpireServer(ctx, job);
  const t = await resolveAgent(job, ctx, server, signal);
  if ('skip' in t) return t.skip;
  const rec = await readAgent(server, t.agentId, signal);
  if (rec === null)
    return {
      proceed: false,
      detail: `SPIRE agent ${t.agentId} has no record at the server: it was already evicted and attests again on its own; nothing to delete`,
    };
  const refusal = refusalOf(rec, ctx);
  if (refusal !== null) return { proceed: false, detail: refusal };
  const v = await judge(job, ctx, t, rec, signal);
  if (v.behind.length === 0)
    return { proceed: false, detail: `SPIRE agent ${t.agentId} is not behind (${v.fine.join('; ')}): an eviction would not help` };
  return { proceed: true, detail: `SPIRE agent ${t.agentId} is behind: ${v.behind.join('; ')}. It can re-attest (${rec.attestationType})` };
}

/** Polls GetAgent until the agent is back with another SVID serial, or `waitMs` passes; null then. */
async function awaitReattested(
  ctx: ActionContext,
  server: SpireServerPort,
  agentId: string,
  oldSerial: string,
  waitMs: number,
  signal: AbortSignal,
): Promise<SpireAgentRecord | null> {
  const deadline = ctx.clock.now() + waitMs;
  while (ctx.clock.now() < deadline) {
    const rec = await readAgent(server, agentId, signal).catch(() => null);
    if (rec !== null && rec.serialHex !== oldSerial) return rec;
    await sleep(200, signal);
  }
  return null;
}

/**
 * Records the eviction as a Kubernetes Event on the SPIRE agent pod of the agent's node, when
 * Kubernetes is configured and the pod's namespace is in scope. Never throws: '' when recorded,
 * else a note for the detail (like recordActionEvent: an Event must not fail the action).
 */
async function recordEvictionEvent(job: RemediationRequest, ctx: ActionContext, t: AgentTarget, what: string): Promise<string> {
  const kube = ctx.kubernetes;
  if (kube === undefined || kube === null || t.node === null) return '';
  let pod: KubePod | null;
  try {
    pod = await kube.getAgentPod(t.node);
  } catch (e: unknown) {
    return `; the Kubernetes Event could not be recorded (reading the SPIRE agent pod of ${t.node} failed: ${errorMessage(e)})`;
  }
  if (pod === null) return `; no Kubernetes Event recorded: no SPIRE agent pod on node ${t.node}`;
  const refusal = platformScopeRefusal(`SPIRE agent pod ${pod.namespace}/${pod.name}`, { namespace: pod.namespace }, ctx.scope);
  if (refusal !== null) return `; no Kubernetes Event recorded (${refusal})`;
  return recordActionEvent(
    ctx,
    job,
    { apiVersion: 'v1', kind: 'Pod', namespace: pod.namespace, name: pod.name, uid: pod.uid },
    EVENT_REASONS.forceRotation,
    'DeleteAgent',
    what,
  );
}

/** The eviction: DeleteAgent (NotFound counts as done), then waits up to `waitReattest` for the agent to come back. */
export async function performEviction(job: RemediationRequest, ctx: ActionContext, signal: AbortSignal): Promise<string> {
  const server = needSpireServer(ctx, job);
  const t = await resolveAgent(job, ctx, server, signal);
  if ('skip' in t) throw new Error(t.skip.detail);
  const before = await readAgent(server, t.agentId, signal);
  if (before === null) return `SPIRE agent ${t.agentId} has no record at the server any more (already evicted); nothing deleted`;
  const refusal = refusalOf(before, ctx);
  if (refusal !== null) throw new PermanentActionError(refusal);
  const result = await server.deleteAgent(t.agentId, signal).catch(rethrowWithContext(`DeleteAgent ${t.agentId}`));
  const done =
    result === 'deleted'
      ? `DeleteAgent ${t.agentId} evicted the agent (its SVID serial was ${before.serialHex})`
      : `DeleteAgent ${t.agentId} answered NotFound: already evicted`;
  const note =
    result === 'deleted'
      ? await recordEvictionEvent(
          job,
          ctx,
          t,
          `evicted SPIRE agent ${t.agentId} on node ${t.node ?? '(unknown)'} through the SPIRE server (DeleteAgent; its agent SVID serial was ${before.serialHex}) so that it re-attests and mints fresh SVIDs`,
        )
      : '';
  const waitMs = durationParam(job, 'waitReattest', 10_000, 0, 300_000);
  if (waitMs === 0) return `${done}; it attests again on its own${note}`;
  const after = await awaitReattested(ctx, server, t.agentId, before.serialHex, waitMs, signal);
  return after === null
    ? `${done}; it has not re-attested within ${formatDuration(waitMs)} yet${note}`
    : `${done}; it re-attested with SVID serial ${after.serialHex}, valid until ${isoTime(after.svidExpiresAtMs)}, and mints its workload SVIDs anew${note}`;
}
