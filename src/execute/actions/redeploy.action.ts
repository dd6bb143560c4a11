import { rethrowWithContext } from '../../knowledge/errors/classified-error.js';
import type { RemediationRequest } from '../../knowledge/model/action-run.js';
import type { Workload } from '../../knowledge/model/workload.js';
import { agentSubject } from '../../knowledge/subject-ref.js';
import { rotationStatus } from '../../knowledge/svid-rotation.js';
import type { KubeRolloutKind } from '../../ports/kubernetes.port.js';
import { PermanentActionError, resolveWorkloadTarget, type ActionContext, type Precheck, type RemediationAction } from '../action.js';
import { EVENT_REASONS, needCloudRun, needKubernetes, recordActionEvent } from './kube-events.js';
import { cloudRunServiceName, podNameOf, rollCloudRunRevision } from './restart-envoy-platform.js';

const ROLLOUT_KINDS: readonly string[] = ['Deployment', 'StatefulSet', 'DaemonSet'] satisfies readonly KubeRolloutKind[];

/**
 * The kubectl.kubernetes.io/restartedAt value of a job: when it was decided, in whole seconds. Fixed per job, so a re-run patches
 * the same value (a no-op).
 */
export function restartedAtOf(job: RemediationRequest): Date {
  return new Date(Math.floor(job.decidedAt / 1000) * 1000);
}

const rfc3339 = (d: Date): string => d.toISOString().replace(/\.\d{3}Z$/, 'Z');

type Located = { readonly kind: KubeRolloutKind; readonly namespace: string; readonly name: string } | { readonly skip: Precheck };

/** The controller a rollout restart of the workload's pod restarts, or why there is none. */
async function owningController(job: RemediationRequest, w: Workload, ctx: ActionContext): Promise<Located> {
  const kube = needKubernetes(ctx, job);
  const namespace = w.location;
  const owner = w.owner ?? (await kube.getPod(namespace, podNameOf(w)).catch(rethrowWithContext(`reading pod ${w.id}`)))?.owner ?? null;
  if (owner === null) return { skip: { proceed: false, detail: `pod ${w.id} has no controller: there is no rollout to restart` } };
  if (!ROLLOUT_KINDS.includes(owner.kind)) {
    return {
      skip: {
        proceed: false,
        detail: `pod ${w.id} is owned by ${owner.kind} ${owner.name}, which a rollout restart cannot restart (Deployment, StatefulSet, DaemonSet only)`,
      },
    };
  }
  return { kind: owner.kind as KubeRolloutKind, namespace, name: owner.name };
}

/** A skip when the incident's symptom is gone on the live target (an Envoy now serving a current SVID, a Cloud Run service ready again). */
async function healedLive(job: RemediationRequest, w: Workload, ctx: ActionContext, signal: AbortSignal): Promise<Precheck | null> {
  const incident = await ctx.store.getIncident(job.incidentId);
  if (incident?.type === 'rotation_failed') {
    const certs = await ctx.envoy.readCerts(w.envoyAdminUrl, signal).catch(() => null);
    const leaf = certs?.chain[0];
    if (leaf !== undefined && !rotationStatus(leaf, ctx.clock.now(), ctx.rotation).overdue) {
      return {
        proceed: false,
        detail: `Envoy for ${w.id} already serves a current SVID (serial ${leaf.serialNumber}); nothing to redeploy`,
      };
    }
  }
  if (incident?.type === 'cloudrun_revision_not_ready' && w.platform === 'cloudrun') {
    const svc = await needCloudRun(ctx, job).getService(cloudRunServiceName(w), signal);
    if (svc.ready)
      return {
        proceed: false,
        detail: `Cloud Run service ${svc.name} is ready again (serving ${svc.latestReadyRevision}); nothing to redeploy`,
      };
  }
  return null;
}

function refusePaused(kind: KubeRolloutKind, namespace: string, name: string): PermanentActionError {
  return new PermanentActionError(
    `refused: ${kind} ${namespace}/${name} is paused (spec.paused): a rollout restart would not roll it; resume it first (kubectl rollout resume)`,
  );
}

/**
 * redeploy: restarts what runs the workload. Kubernetes: `kubectl rollout restart` of the pod's
 * Deployment / StatefulSet / DaemonSet, i.e. a strategic-merge patch of spec.template annotation
 * kubectl.kubernetes.io/restartedAt with a value fixed per job (restartedAtOf), so a re-run is a
 * no-op; a paused Deployment is refused (PermanentActionError). A Kubernetes Event is recorded on
 * the controller. Cloud Run: a new revision (template annotation spire-healer.io/redeploy = job
 * id), waiting for the operation and for the service to be ready. Skipped when the live target no
 * longer shows the symptom, or when the workload's node agent has an open agent_disconnected
 * incident (the agent is the cause; a redeploy would only replace healthy replicas). Needs ctx.kubernetes or ctx.cloudrun for the
 * workload's platform.
 */
export const redeployAction: RemediationAction = {
  name: 'redeploy',
  async precheck(job, ctx, signal) {
    const resolved = await resolveWorkloadTarget(job, ctx, signal);
    if ('skip' in resolved) return resolved.skip;
    const w = resolved.workload;
    if (w.platform === 'cloudrun') {
      const healed = await healedLive(job, w, ctx, signal);
      if (healed !== null) return healed;
      const svc = await needCloudRun(ctx, job).getService(cloudRunServiceName(w), signal);
      return {
        proceed: true,
        detail: svc.ready
          ? `Cloud Run service ${svc.name} serves ${svc.latestReadyRevision}; a new revision replaces its instances`
          : `Cloud Run service ${svc.name} is not ready: ${svc.notReady.join('; ')}`,
      };
    }
    // Replacing every replica cannot fix the node's SPIRE agent; its own incident owns the symptom.
    const agentIncident = w.node === undefined ? null : await ctx.store.findOpenIncident('agent_disconnected', agentSubject(w.node));
    if (agentIncident !== null)
      return {
        proceed: false,
        detail: `the SPIRE agent on ${w.node ?? '?'} is itself disconnected (incident ${agentIncident.id}); a redeploy would replace healthy replicas without fixing it`,
      };
    const located = await owningController(job, w, ctx);
    if ('skip' in located) return located.skip;
    const { kind, namespace, name } = located;
    const ctl = await needKubernetes(ctx, job)
      .getController(kind, namespace, name)
      .catch(rethrowWithContext(`reading ${kind} ${namespace}/${name}`));
    if (ctl === null) return { proceed: false, detail: `${kind} ${namespace}/${name} no longer exists` };
    if (ctl.paused) throw refusePaused(kind, namespace, name);
    const healed = await healedLive(job, w, ctx, signal);
    if (healed !== null) return healed;
    const stamp = rfc3339(restartedAtOf(job));
    if (ctl.restartedAt === stamp)
      return {
        proceed: true,
        detail: `${kind} ${namespace}/${name} already carries this job's restartedAt ${stamp}; re-applying it changes nothing`,
      };
    return {
      proceed: true,
      detail: `${kind} ${namespace}/${name} (${ctl.ready}/${ctl.desired} ready, generation ${ctl.generation}) runs ${w.id}`,
    };
  },
  async perform(job, ctx, signal) {
    const resolved = await resolveWorkloadTarget(job, ctx, signal);
    if ('skip' in resolved) throw new PermanentActionError(resolved.skip.detail);
    const w = resolved.workload;
    if (w.platform === 'cloudrun') return rollCloudRunRevision(job, w, ctx, signal);
    const located = await owningController(job, w, ctx);
    if ('skip' in located) throw new PermanentActionError(located.skip.detail);
    const { kind, namespace, name } = located;
    const kube = needKubernetes(ctx, job);
    const ctl = await kube.getController(kind, namespace, name).catch(rethrowWithContext(`reading ${kind} ${namespace}/${name}`));
    if (ctl === null) throw new PermanentActionError(`${kind} ${namespace}/${name} no longer exists`);
    if (ctl.paused) throw refusePaused(kind, namespace, name);
    const at = restartedAtOf(job);
    await kube.restartRollout(kind, namespace, name, at).catch(rethrowWithContext(`restarting ${kind} ${namespace}/${name}`));
    const after = await kube.getController(kind, namespace, name).catch(() => null);
    const note = await recordActionEvent(
      ctx,
      job,
      { apiVersion: 'apps/v1', kind, namespace, name },
      EVENT_REASONS.redeploy,
      'RolloutRestart',
      `restarted the rollout of ${kind} ${name} (restartedAt ${rfc3339(at)})`,
    );
    const generation = after === null ? '' : ` (generation ${after.generation})`;
    return `rollout restart of ${kind} ${namespace}/${name}: spec.template annotation kubectl.kubernetes.io/restartedAt=${rfc3339(at)}${generation}; its ${ctl.desired} pod(s) are replaced${note}`;
  },
};
