import { errorMessage } from '../../knowledge/error-text.js';
import { rethrowWithContext } from '../../knowledge/errors/classified-error.js';
import type { RemediationRequest } from '../../knowledge/model/action-run.js';
import type { Incident } from '../../knowledge/model/incident.js';
import { agentNodeOf, agentSubject } from '../../knowledge/subject-ref.js';
import type { KubePod } from '../../ports/kubernetes.port.js';
import type { AgentDebugPort, SpireHealthPort } from '../../ports/spire.port.js';
import { isMarkedSimulated, type ActionContext, type Precheck, type RemediationAction } from '../action.js';
import { sleep } from '../../support/abortable-sleep.js';
import { EVENT_REASONS, needKubernetes, numberParam, platformScopeRefusal, recordActionEvent } from './kube-events.js';

/** Agent pod annotations the inventory discovers the agent by (see monitor/apply-kubernetes-inventory.ts). */
const ADMIN_ENDPOINT_ANNOTATION = 'spire-healer.io/agent-admin-endpoint';
const HEALTH_URL_ANNOTATION = 'spire-healer.io/agent-health-url';

/**
 * Live SPIRE agent probes an ActionContext may carry next to the ports ActionContext declares.
 * With them the precheck reads the agent's /ready and Debug GetInfo itself; without them it judges
 * by the monitor's latest observations in knowledge.
 */
export interface AgentProbePorts {
  readonly spireHealth?: SpireHealthPort | null;
  readonly agentDebug?: AgentDebugPort | null;
}

/** One agent's health as the precheck judged it. */
interface AgentVerdict {
  readonly healthy: boolean;
  /** What was read, in words. */
  readonly facts: readonly string[];
}

const ago = (ms: number): string => `${Math.max(0, Math.round(ms / 100) / 10)}s ago`;

/** Debug's last_sync_success has whole seconds: a sync in the incident's second still counts as after it. */
const SYNC_GRANULARITY_MS = 1_000;

/**
 * Whether the agent is healthy now: its pod Ready, /ready 200, and a sync with the server after the
 * incident opened (or within maxSyncAgeMs when there is no incident); for a bundle incident also
 * the same bundle as the server. Live probes when the context has them, else knowledge.
 */
async function judgeAgent(
  job: RemediationRequest,
  ctx: ActionContext,
  pod: KubePod,
  incident: Incident | null,
  signal: AbortSignal,
): Promise<AgentVerdict> {
  const now = ctx.clock.now();
  const node = pod.node ?? '';
  const subject = agentSubject(node);
  const syncedSince =
    incident === null ? now - numberParam(job, 'maxSyncAgeMs', 30_000, 1_000, 3_600_000) : incident.openedAt - SYNC_GRANULARITY_MS;
  const facts: string[] = [];
  let healthy = true;
  const fail = (fact: string): void => {
    healthy = false;
    facts.push(fact);
  };
  if (!pod.ready) fail(`pod ${pod.namespace}/${pod.name} is not Ready (phase ${pod.phase})`);
  else facts.push(`pod ${pod.namespace}/${pod.name} is Ready`);
  const probes = ctx as ActionContext & AgentProbePorts;
  const healthUrl = pod.annotations[HEALTH_URL_ANNOTATION];
  const adminEndpoint = pod.annotations[ADMIN_ENDPOINT_ANNOTATION];

  const liveHealth = probes.spireHealth ?? null;
  const liveDebug = probes.agentDebug ?? null;
  if (liveHealth !== null && healthUrl !== undefined && healthUrl !== '') {
    try {
      const h = await liveHealth.check(healthUrl, 'ready', signal);
      if (h.healthy) facts.push(`${healthUrl}/ready answers ${h.status}`);
      else fail(`${healthUrl}/ready answers ${h.status}`);
    } catch (e: unknown) {
      fail(`${healthUrl}/ready cannot be read (${errorMessage(e)})`);
    }
  } else {
    const o = await ctx.store.latestObservation(subject, 'spire.agent.health');
    if (o?.data.kind !== 'spire.health' || (incident !== null && o.observedAt < incident.openedAt))
      fail('no /ready answer observed since the incident opened');
    else if (!o.data.healthy) fail(`/ready answered ${o.data.status} ${ago(now - o.observedAt)}`);
    else facts.push(`/ready answered ${o.data.status} ${ago(now - o.observedAt)}`);
  }

  let lastSync: number | null = null;
  if (liveDebug !== null && adminEndpoint !== undefined && adminEndpoint !== '') {
    try {
      lastSync = (await liveDebug.getInfo(adminEndpoint, signal)).lastSyncSuccessMs;
    } catch (e: unknown) {
      fail(`Debug GetInfo on ${adminEndpoint} failed (${errorMessage(e)})`);
    }
  } else {
    const o = await ctx.store.latestObservation(subject, 'spire.agent.debug');
    if (o?.data.kind === 'spire.agent') lastSync = o.data.lastSyncSuccessMs;
    else fail('no Debug GetInfo observed');
  }
  if (lastSync !== null) {
    if (lastSync === 0 || lastSync < syncedSince) fail(`last sync with the server ${lastSync === 0 ? 'never' : ago(now - lastSync)}`);
    else facts.push(`last sync with the server ${ago(now - lastSync)}`);
  }

  const spireServer = ctx.spireServer ?? null;
  if (incident?.type === 'trust_bundle_drift' && spireServer !== null) {
    const bundle = await ctx.store.latestObservation(subject, 'spire.agent.bundle');
    const server = await spireServer.getBundle(signal);
    const want = server.x509Authorities
      .map((a) => a.certificate.serialHex)
      .sort()
      .join(',');
    const have =
      bundle?.data.kind === 'spire.agent.bundle'
        ? bundle.data.certificates
            .map((c) => c.serialNumber)
            .sort()
            .join(',')
        : null;
    if (have !== want)
      fail(
        `the agent distributes ${have === null ? 'an unknown' : 'a stale'} bundle (server has ${server.x509Authorities.length} authorities)`,
      );
  }
  return { healthy, facts };
}

/** The agent pod of the target's node and the node; or a precheck that skips the job. */
async function locate(
  job: RemediationRequest,
  ctx: ActionContext,
): Promise<{ readonly pod: KubePod; readonly node: string } | { readonly skip: Precheck }> {
  const node = agentNodeOf(job.target);
  if (node === null) return { skip: { proceed: false, detail: `restart_agent acts on agent:<node> targets; ${job.target} is not one` } };
  const pod = await needKubernetes(ctx, job)
    .getAgentPod(node)
    .catch(rethrowWithContext(`reading the SPIRE agent pod of ${node}`));
  if (pod === null) return { skip: { proceed: false, detail: `no SPIRE agent pod is scheduled on node ${node}: nothing to restart` } };
  const debug = await ctx.store.latestObservation(job.target, 'spire.agent.debug');
  const td = debug?.data.kind === 'spire.agent' ? /^spiffe:\/\/([^/]+)/.exec(debug.data.agentId)?.[1] : undefined;
  const refusal = platformScopeRefusal(
    `SPIRE agent pod ${pod.namespace}/${pod.name}`,
    { namespace: pod.namespace, ...(td === undefined ? {} : { trustDomain: td }), simulated: isMarkedSimulated(pod.labels) },
    ctx.scope,
  );
  if (refusal !== null) return { skip: { proceed: false, detail: refusal } };
  return { pod, node };
}

/**
 * True when the pod was created after the job was decided: the DaemonSet already replaced the one
 * this job is about. creationTimestamp has whole seconds, so a replacement from the decision's own
 * second is not recognised here; the health judgement then skips the (healthy) new agent.
 */
const replacedSinceDecided = (pod: KubePod, job: RemediationRequest): boolean =>
  pod.createdAtMs !== null && pod.createdAtMs > job.decidedAt;

/**
 * restart_agent: deletes the SPIRE agent pod of `agent:<node>` through the Kubernetes API; its
 * DaemonSet recreates it, and the new agent re-attests, syncs and serves fresh SVIDs. Acts only
 * when the agent, read live, is not healthy (pod Ready, /ready 200, a sync since the incident
 * opened, and for bundle drift the server's bundle); a pod created after the job was decided means
 * the restart already happened. Needs ctx.kubernetes; reads ctx.spireServer for bundle incidents
 * and AgentProbePorts when present. Records a Kubernetes Event on the deleted pod.
 */
export const restartAgentAction: RemediationAction = {
  name: 'restart_agent',
  async precheck(job, ctx, signal) {
    const found = await locate(job, ctx);
    if ('skip' in found) return found.skip;
    const { pod, node } = found;
    if (pod.terminating)
      return {
        proceed: false,
        detail: `SPIRE agent pod ${pod.namespace}/${pod.name} is already terminating: its DaemonSet is replacing it`,
      };
    if (replacedSinceDecided(pod, job)) {
      return {
        proceed: false,
        detail: `SPIRE agent pod ${pod.namespace}/${pod.name} was created after this job was decided: the agent on ${node} was already restarted`,
      };
    }
    const incident = await ctx.store.getIncident(job.incidentId);
    const verdict = await judgeAgent(job, ctx, pod, incident, signal);
    if (verdict.healthy)
      return { proceed: false, detail: `the SPIRE agent on ${node} is healthy (${verdict.facts.join('; ')}): nothing to restart` };
    return { proceed: true, detail: `the SPIRE agent on ${node} is not healthy: ${verdict.facts.join('; ')}` };
  },
  async perform(job, ctx, signal) {
    const found = await locate(job, ctx);
    if ('skip' in found) throw new Error(found.skip.detail);
    const { pod, node } = found;
    const kube = needKubernetes(ctx, job);
    if (replacedSinceDecided(pod, job))
      return `SPIRE agent pod ${pod.namespace}/${pod.name} on ${node} was already recreated (uid ${pod.uid}); not deleted again`;
    await kube.deletePod(pod.namespace, pod.name).catch(rethrowWithContext(`deleting SPIRE agent pod ${pod.namespace}/${pod.name}`));
    const note = await recordActionEvent(
      ctx,
      job,
      { apiVersion: 'v1', kind: 'Pod', namespace: pod.namespace, name: pod.name, uid: pod.uid },
      EVENT_REASONS.restartAgent,
      'DeletePod',
      `deleted SPIRE agent pod ${pod.name} on node ${node} to restart the agent`,
    );
    const waitMs = numberParam(job, 'waitReadyMs', 15_000, 0, 300_000);
    const deadline = ctx.clock.now() + waitMs;
    let replacement: KubePod | null = null;
    while (waitMs > 0 && ctx.clock.now() < deadline) {
      const now = await kube.getAgentPod(node).catch(() => null);
      if (now !== null && now.uid !== pod.uid && now.ready) {
        replacement = now;
        break;
      }
      await sleep(250, signal);
    }
    const outcome =
      replacement === null
        ? waitMs > 0
          ? `; no Ready replacement within ${waitMs} ms yet`
          : ''
        : `; its DaemonSet recreated it as ${replacement.namespace}/${replacement.name} (uid ${replacement.uid}), Ready`;
    return `deleted SPIRE agent pod ${pod.namespace}/${pod.name} (uid ${pod.uid}) on ${node}${outcome}${note}`;
  },
};
