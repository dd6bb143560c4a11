import { errorMessage } from '../../knowledge/error-text.js';
import type { RemediationRequest } from '../../knowledge/model/action-run.js';
import type { Workload } from '../../knowledge/model/workload.js';
import { agentNodeOf, agentSubject, trustDomainSubject } from '../../knowledge/subject-ref.js';
import { rotationStatus } from '../../knowledge/svid-rotation.js';
import type { EnvoyCertsData, EnvoyStatsData } from '../../knowledge/model/observation.js';
import { ClassifiedError, retryClassOf, rethrowWithContext } from '../../knowledge/errors/classified-error.js';
import {
  PermanentActionError,
  resolveWorkloadTarget,
  workloadScopeRefusal,
  type ActionContext,
  type Precheck,
  type RemediationAction,
} from '../action.js';
import { mapBounded } from '../../support/paced-pool.js';
import { deleteWorkloadPod, newCloudRunRevision, quitEnvoy } from './restart-envoy-platform.js';
import { durationParam, textParam } from './step-params.js';

/** How restart_envoy restarts: `params.method`, default quitquitquit (ignored on Cloud Run). */
const METHODS = ['quitquitquit', 'delete_pod'] as const;

/** The server's CA serials: live GetBundle when the Server API is configured, else the monitor's latest read. */
async function serverCaSerials(
  w: Workload,
  ctx: ActionContext,
  signal: AbortSignal,
): Promise<{ readonly serials: string[]; readonly how: string } | null> {
  if (ctx.spireServer !== undefined && ctx.spireServer !== null) {
    const b = await ctx.spireServer.getBundle(signal);
    return { serials: b.x509Authorities.map((a) => a.certificate.serialHex).sort(), how: 'GetBundle' };
  }
  const o = await ctx.store.latestObservation(trustDomainSubject(w.trustDomain), 'spire.server.bundle');
  if (o?.data.kind !== 'spire.bundle') return null;
  return {
    serials: o.data.authorities.map((a) => a.serialNumber).sort(),
    how: `the server bundle read at ${new Date(o.observedAt).toISOString()}`,
  };
}

/** For a trust-bundle drift: proceed only while the Envoy, read live, validates peers with other CAs than the server's bundle. */
async function bundleVerdict(w: Workload, certs: EnvoyCertsData, ctx: ActionContext, signal: AbortSignal): Promise<Precheck> {
  const server = await serverCaSerials(w, ctx, signal);
  const have = certs.caCerts.map((c) => c.serialNumber).sort();
  if (server === null) return { proceed: false, detail: `no server bundle to compare Envoy for ${w.id} with; not restarting it blind` };
  if (have.join(',') === server.serials.join(',')) {
    return {
      proceed: false,
      detail: `Envoy for ${w.id} already validates with the server's CA serials ${have.join(', ')} (${server.how}); nothing to restart`,
    };
  }
  return {
    proceed: true,
    detail: `Envoy for ${w.id} validates with CA serials ${have.join(', ') || '(none)'}, the server's bundle holds ${server.serials.join(', ')} (${server.how})`,
  };
}

/** Restarts one workload's Envoy the way its platform and `params.method` say. */
function restartOne(job: RemediationRequest, w: Workload, ctx: ActionContext, signal: AbortSignal): Promise<string> {
  if (w.platform === 'cloudrun') return newCloudRunRevision(job, w, ctx, signal);
  if (textParam(job, 'method') === 'delete_pod') return deleteWorkloadPod(job, w, ctx);
  return quitEnvoy(job, w, ctx, signal);
}

// ---- agent:<node> targets: the node's Envoys whose SDS fetches keep failing --------------------

/** The agent pod annotation with its /live /ready listener (see monitor/apply-kubernetes-inventory.ts). */
const HEALTH_URL_ANNOTATION = 'spire-healer.io/agent-health-url';
/** Default of `params.max`: half of the node's Envoys (at least one) restarted by one job. */
const DEFAULT_MAX = '50%';
/**
 * Default of `params.failingWithin`: an Envoy whose update_failure has not risen for this long (as
 * the monitor saw it) counts as recovered. Envoy retries a failed SDS fetch with a backoff of at
 * most 30 s, so an Envoy that still fails has risen well within it.
 */
const DEFAULT_FAILING_WITHIN_MS = 2 * 60_000;
/** Envoys read at once. */
const READ_CONCURRENCY = 8;
/** Skipped Envoys named in a detail; the rest are counted. */
const MAX_LISTED = 30;

const iso = (ms: number): string => new Date(ms).toISOString();
const sdsFailures = (d: EnvoyStatsData): number => d.sds.reduce((n, s) => n + s.updateFailure, 0);

/** How many of `size` Envoys one job may restart: `params.max`, a count or "P%" (of the node's Envoys, at least 1). */
export function maxEnvoys(job: RemediationRequest, size: number): { readonly allowed: number; readonly as: string } {
  const v = job.params?.['max'] ?? DEFAULT_MAX;
  const bad = (): PermanentActionError =>
    new PermanentActionError(
      `restart_envoy: parameter max must be a count (1, 3) or a percentage of the node's Envoys ("50%"), got ${JSON.stringify(v)}`,
    );
  if (typeof v === 'number') {
    if (!Number.isFinite(v) || v < 1) throw bad();
    return { allowed: Math.min(10_000, Math.floor(v)), as: String(Math.min(10_000, Math.floor(v))) };
  }
  if (typeof v !== 'string') throw bad();
  const pct = /^(\d{1,3})%$/.exec(v.trim());
  if (pct !== null) {
    const p = Math.min(100, Number(pct[1]));
    if (p < 1) throw bad();
    return { allowed: Math.max(1, Math.floor((size * p) / 100)), as: `${p}% of ${size}` };
  }
  if (/^\d+$/.test(v.trim()) && Number(v) >= 1) return { allowed: Math.min(10_000, Number(v)), as: v.trim() };
  throw bad();
}

/** Whether the node's agent is up, so that a restarted Envoy finds an SDS server to fetch from. */
async function agentUp(
  job: RemediationRequest,
  node: string,
  ctx: ActionContext,
  signal: AbortSignal,
): Promise<{ readonly ok: boolean; readonly facts: string }> {
  const incident = await ctx.store.getIncident(job.incidentId);
  const since = incident?.openedAt ?? job.decidedAt;
  const facts: string[] = [];
  const kube = ctx.kubernetes ?? null;
  if (kube !== null) {
    const pod = await kube.getAgentPod(node).catch(rethrowWithContext(`reading the SPIRE agent pod of ${node}`));
    if (pod === null) return { ok: false, facts: `no SPIRE agent pod runs on ${node}` };
    const name = `${pod.namespace}/${pod.name}`;
    if (pod.terminating) return { ok: false, facts: `SPIRE agent pod ${name} is terminating` };
    if (!pod.ready) return { ok: false, facts: `SPIRE agent pod ${name} is not Ready (phase ${pod.phase})` };
    facts.push(`SPIRE agent pod ${name} is Ready`);
    const url = pod.annotations[HEALTH_URL_ANNOTATION];
    const health = ctx.spireHealth ?? null;
    if (url !== undefined && url !== '' && health !== null) {
      try {
        const h = await health.check(url, 'ready', signal);
        if (!h.healthy) return { ok: false, facts: `${facts.join('; ')}, but ${url}/ready answers ${h.status}` };
        facts.push(`${url}/ready answers ${h.status}`);
      } catch (e: unknown) {
        return { ok: false, facts: `${facts.join('; ')}, but ${url}/ready cannot be read (${errorMessage(e)})` };
      }
      return { ok: true, facts: facts.join('; ') };
    }
  }
  const o = await ctx.store.latestObservation(agentSubject(node), 'spire.agent.health');
  if (o?.data.kind === 'spire.health' && o.observedAt >= since) {
    if (!o.data.healthy) return { ok: false, facts: `the agent's /ready answered ${o.data.status} at ${iso(o.observedAt)}` };
    facts.push(`the agent's /ready answered ${o.data.status} at ${iso(o.observedAt)}`);
  }
  if (facts.length > 0) return { ok: true, facts: facts.join('; ') };
  return {
    ok: false,
    facts: `nothing confirms that the SPIRE agent on ${node} is up (no agent pod read through Kubernetes, no /ready answer since ${iso(since)})`,
  };
}

/** One Envoy of the node, read live. */
type EnvoyVerdict =
  | { readonly w: Workload; readonly state: 'failing'; readonly why: string }
  /** Restarted since the job was decided, or unreadable (maybe restarting): counts against `max`. */
  | { readonly w: Workload; readonly state: 'down_or_restarted'; readonly why: string }
  | { readonly w: Workload; readonly state: 'skip'; readonly why: string };

/**
 * Reads one Envoy live: /server_info first (a process that started after the job was decided was
 * restarted already, by this job's earlier delivery or otherwise), then /stats (update_failure of
 * its SDS secrets). Failing: update_failure > 0 in this process and, compared with the monitor's
 * latest reading, still rising or changed within `failingWithinMs`.
 */
async function judgeEnvoy(
  job: RemediationRequest,
  w: Workload,
  ctx: ActionContext,
  failingWithinMs: number,
  signal: AbortSignal,
): Promise<EnvoyVerdict> {
  const refusal = await workloadScopeRefusal(w, ctx, signal);
  if (refusal !== null) return { w, state: 'skip', why: refusal };
  let uptimeS: number;
  let stats: EnvoyStatsData;
  try {
    uptimeS = (await ctx.envoy.readServerInfo(w.envoyAdminUrl, signal)).uptimeSeconds;
  } catch (e: unknown) {
    return { w, state: 'down_or_restarted', why: `its admin endpoint cannot be read, it may be restarting (${errorMessage(e)})` };
  }
  const now = ctx.clock.now();
  // uptime has whole seconds: a process that may have started after the decision counts as restarted.
  if (now - uptimeS * 1_000 > job.decidedAt)
    return { w, state: 'down_or_restarted', why: `its process started ${uptimeS}s ago, after this job was decided: already restarted` };
  try {
    stats = await ctx.envoy.readStats(w.envoyAdminUrl, signal);
  } catch (e: unknown) {
    return { w, state: 'down_or_restarted', why: `its /stats cannot be read, it may be restarting (${errorMessage(e)})` };
  }
  const failures = sdsFailures(stats);
  if (failures === 0) return { w, state: 'skip', why: `healthy: no failed SDS fetch in this process (up ${uptimeS}s)` };
  const prev = await ctx.store.latestObservation(w.id, 'envoy.stats');
  if (prev?.data.kind === 'envoy.stats') {
    const before = sdsFailures(prev.data);
    const since = prev.stateSince ?? prev.observedAt;
    if (before === failures && now - since > failingWithinMs) {
      return {
        w,
        state: 'skip',
        why: `healthy: its SDS fetches stopped failing (update_failure has stayed at ${failures} since ${iso(since)})`,
      };
    }
    if (before < failures) return { w, state: 'failing', why: `update_failure ${failures}, rising (${before} at ${iso(prev.observedAt)})` };
  }
  return { w, state: 'failing', why: `update_failure ${failures} in this process (up ${uptimeS}s)` };
}

const listed = (vs: readonly { readonly w: Workload; readonly why: string }[]): string => {
  const shown = vs.slice(0, MAX_LISTED).map((v) => `${v.w.id} (${v.why})`);
  return vs.length > MAX_LISTED ? `${shown.join('; ')}; and ${vs.length - MAX_LISTED} more` : shown.join('; ');
};

/** What an agent:<node> job restarts (`chosen`, in workload id order) and what it leaves alone (`skipped`, with why). */
interface NodePlan {
  readonly node: string;
  readonly size: number;
  readonly allowed: number;
  readonly maxAs: string;
  readonly agent: string;
  readonly chosen: readonly EnvoyVerdict[];
  readonly skipped: readonly { readonly w: Workload; readonly why: string }[];
}

/** Reads the node's agent and every Envoy on the node live, and picks the failing ones within `max`; or a precheck that skips the job. */
async function planNode(
  job: RemediationRequest,
  node: string,
  ctx: ActionContext,
  signal: AbortSignal,
): Promise<NodePlan | { readonly skip: Precheck }> {
  const onNode = (await ctx.store.listWorkloads()).filter((w) => w.node === node).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  if (onNode.length === 0) return { skip: { proceed: false, detail: `no workload runs on ${node} in the inventory: no Envoy to restart` } };
  const { allowed, as } = maxEnvoys(job, onNode.length);
  const failingWithinMs = durationParam(job, 'failingWithin', DEFAULT_FAILING_WITHIN_MS, 1_000, 24 * 3_600_000);
  const agent = await agentUp(job, node, ctx, signal);
  // A failure, not a skip: a skipped job counts as "the target healed" and would be verified for the
  // step's whole verify timeout, holding back the next step (restarting the agent) for nothing.
  if (!agent.ok) {
    throw new PermanentActionError(
      `not restarting the Envoys on ${node}: ${agent.facts}. ` +
        "Restarted while their agent is down they would come back without a certificate; the agent is the next step's business",
    );
  }
  const verdicts = await mapBounded(onNode, READ_CONCURRENCY, (w) => judgeEnvoy(job, w, ctx, failingWithinMs, signal));
  const down = verdicts.filter((v) => v.state === 'down_or_restarted').length;
  const failing = verdicts.filter((v) => v.state === 'failing');
  const chosen = failing.slice(0, Math.max(0, allowed - down));
  const over = failing
    .slice(chosen.length)
    .map((v) => ({ w: v.w, why: `${v.why}; over max ${as} = ${allowed} Envoys down at once on ${node}, ${down + chosen.length} already` }));
  const skipped = [...verdicts.filter((v) => v.state !== 'failing'), ...over];
  return { node, size: onNode.length, allowed, maxAs: as, agent: agent.facts, chosen, skipped };
}

function nodeSummary(p: NodePlan): string {
  return `${p.chosen.length} of ${p.size} Envoys on ${p.node} to restart (max ${p.maxAs} = ${p.allowed}; ${p.agent})`;
}

async function precheckNode(job: RemediationRequest, node: string, ctx: ActionContext, signal: AbortSignal): Promise<Precheck> {
  const plan = await planNode(job, node, ctx, signal);
  if ('skip' in plan) return plan.skip;
  if (plan.chosen.length === 0) return { proceed: false, detail: `no Envoy on ${plan.node} to restart: ${listed(plan.skipped)}` };
  return { proceed: true, detail: `${nodeSummary(plan)}: restarting ${listed(plan.chosen)}; skipping ${listed(plan.skipped) || 'none'}` };
}

/**
 * Restarts the chosen Envoys one after the other. A failure of one does not stop the others; a
 * transient one fails the delivery so the queue retries it (the Envoys restarted by then count as
 * restarted and are not restarted again), permanent ones fail the job only when nothing was restarted.
 */
async function performNode(job: RemediationRequest, node: string, ctx: ActionContext, signal: AbortSignal): Promise<string> {
  const plan = await planNode(job, node, ctx, signal);
  if ('skip' in plan) return `nothing restarted: ${plan.skip.detail}`;
  if (plan.chosen.length === 0) return `nothing restarted on ${plan.node} (read again right before acting): ${listed(plan.skipped)}`;
  const restarted: string[] = [];
  const failed: { readonly id: string; readonly e: unknown }[] = [];
  for (const v of plan.chosen) {
    try {
      restarted.push(`${v.w.id} (${v.why}): ${await restartOne(job, v.w, ctx, signal)}`);
    } catch (e: unknown) {
      failed.push({ id: v.w.id, e });
    }
  }
  const detail =
    `restarted ${restarted.length} of ${plan.size} Envoys on ${plan.node} (max ${plan.maxAs} = ${plan.allowed}; ${plan.agent}): ${restarted.join('; ') || 'none'}` +
    (failed.length > 0 ? `; failed: ${failed.map((f) => `${f.id} (${errorMessage(f.e)})`).join('; ')}` : '') +
    `; skipped: ${listed(plan.skipped) || 'none'}`;
  if (failed.some((f) => retryClassOf(f.e) === 'retryable')) throw new ClassifiedError(detail, 'retryable');
  if (failed.length > 0 && restarted.length === 0) throw new PermanentActionError(detail);
  return detail;
}

/**
 * restart_envoy. A workload target: on Kubernetes, POST /quitquitquit on the workload's Envoy
 * admin endpoint (Envoy exits cleanly and the kubelet restarts only that container, which opens a
 * new SDS stream and fetches the agent's current SVID; a Kubernetes Event is recorded on the pod),
 * or with `method: delete_pod` delete the pod so its controller recreates it; on Cloud Run, a new
 * revision. Acts only while Envoy, read live, still serves an overdue SVID (or none) or, for a
 * trust-bundle drift, validates with CAs other than the server's.
 *
 * An `agent:<node>` target (agent_disconnected, cause agent_sds_failing): restarts, the same way,
 * the Envoys on that node whose SDS fetches keep failing, read live (/server_info, /stats), at most
 * `params.max` of the node's Envoys at once (default 50%, at least 1; Envoys down or restarted
 * since the job was decided count against it), and only while the node's agent is up (its pod
 * Ready and /ready answering, read live when possible): an Envoy restarted while its agent is down
 * would come back without a certificate, so an agent not known to be up fails the job (permanent). An Envoy restarted since the job
 * was decided is not
 * restarted again. The detail lists what was restarted and what was skipped, and why.
 */
export const restartEnvoyAction: RemediationAction = {
  name: 'restart_envoy',
  async precheck(job, ctx, signal) {
    const method = textParam(job, 'method') ?? 'quitquitquit';
    if (!(METHODS as readonly string[]).includes(method))
      throw new PermanentActionError(`restart_envoy: params.method must be one of ${METHODS.join(', ')}, got ${method}`);
    const node = agentNodeOf(job.target);
    if (node !== null) return precheckNode(job, node, ctx, signal);
    const resolved = await resolveWorkloadTarget(job, ctx, signal);
    if ('skip' in resolved) return resolved.skip;
    const target = resolved.workload;
    const certs = await ctx.envoy.readCerts(target.envoyAdminUrl, signal);
    if ((await ctx.store.getIncident(job.incidentId))?.type === 'trust_bundle_drift') return bundleVerdict(target, certs, ctx, signal);
    const leaf = certs.chain[0];
    if (leaf === undefined) return { proceed: true, detail: `Envoy at ${target.envoyAdminUrl} serves no certificate` };
    const st = rotationStatus(leaf, ctx.clock.now(), ctx.rotation);
    if (!st.overdue) {
      return {
        proceed: false,
        detail: `Envoy for ${target.id} already serves a current SVID (serial ${leaf.serialNumber}); nothing to restart`,
      };
    }
    return { proceed: true, detail: `Envoy for ${target.id} still serves overdue SVID serial ${leaf.serialNumber}` };
  },
  async perform(job, ctx, signal) {
    const node = agentNodeOf(job.target);
    if (node !== null) return performNode(job, node, ctx, signal);
    const resolved = await resolveWorkloadTarget(job, ctx, signal);
    if ('skip' in resolved) throw new Error(resolved.skip.detail);
    return restartOne(job, resolved.workload, ctx, signal);
  },
};
