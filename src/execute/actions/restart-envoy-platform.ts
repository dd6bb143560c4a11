/**
 * Platform variants of restart_envoy, for restart-envoy.action.ts to call from `perform` after
 * its own precheck (the live Envoy still serves an overdue SVID) passed:
 *
 * - `quitEnvoy`: Kubernetes (the default): POST /quitquitquit on the Envoy admin endpoint, and a
 *   Kubernetes Event on the pod;
 * - `deleteWorkloadPod`: Kubernetes, `params.method === 'delete_pod'`: the pod is deleted and its
 *   controller recreates it (new uid and IP; a new Envoy fetches the agent's current SVID);
 * - `newCloudRunRevision`: Cloud Run has no admin-reachable sidecar to quit, so a new revision
 *   (fresh instances, fresh Envoys) is the restart.
 *
 * `rollCloudRunRevision` is also what redeploy does on Cloud Run.
 */
import { errorMessage } from '../../knowledge/error-text.js';
import { rethrowWithContext } from '../../knowledge/errors/classified-error.js';
import type { RemediationRequest } from '../../knowledge/model/action-run.js';
import type { Workload } from '../../knowledge/model/workload.js';
import type { CloudRunService } from '../../ports/cloudrun.port.js';
import { cloudRunServiceName, PermanentActionError, podNameOf, workloadScopeRefusal, type ActionContext } from '../action.js';
import { sleep } from '../../support/abortable-sleep.js';
import { EVENT_REASONS, needCloudRun, needKubernetes, numberParam, recordActionEvent } from './kube-events.js';

/**
 * Revision template annotation that forces a new revision. Its value is the job id: fixed per
 * job, so a job that runs twice changes the template once (one revision), and a new attempt (a new
 * job id) always creates one.
 */
export const REVISION_ANNOTATION = 'spire-healer.io/redeploy';

export { cloudRunServiceName, podNameOf };

const revisionId = (name: string): string => name.slice(name.lastIndexOf('/') + 1);

/** The platform and the scope (the simulated fleet's marker read live included), checked again right before the write. */
async function checkScope(
  job: RemediationRequest,
  w: Workload,
  ctx: ActionContext,
  platform: Workload['platform'],
  signal?: AbortSignal,
): Promise<void> {
  if (w.platform !== platform) throw new PermanentActionError(`${job.action}: ${w.id} runs on ${w.platform}, not ${platform}`);
  const refusal = await workloadScopeRefusal(w, ctx, signal);
  if (refusal !== null) throw new PermanentActionError(refusal);
}

/**
 * Forces a new revision of the workload's Cloud Run service (template annotation
 * REVISION_ANNOTATION = job id), waits for the operation and then, up to `params.waitReadyMs`
 * (default 180 s), for the service to be ready. A failed revision, a missing service or an
 * invalid update is permanent; a service not ready in time is a transient error.
 */
export async function rollCloudRunRevision(job: RemediationRequest, w: Workload, ctx: ActionContext, signal: AbortSignal): Promise<string> {
  await checkScope(job, w, ctx, 'cloudrun', signal);
  const run = needCloudRun(ctx, job);
  const name = cloudRunServiceName(w);
  const rollout = await run
    .updateTemplateAnnotation(name, REVISION_ANNOTATION, job.id, signal)
    .catch(rethrowWithContext(`new revision of ${name}`));
  let svc: CloudRunService = rollout.service;
  const deadline = ctx.clock.now() + numberParam(job, 'waitReadyMs', 180_000, 0, 3_600_000);
  while (!svc.ready && ctx.clock.now() < deadline) {
    await sleep(500, signal);
    svc = await run.getService(name, signal);
  }
  if (!svc.ready) throw new Error(`the new revision of ${name} is not ready yet: ${svc.notReady.join('; ')}`);
  return `revision ${revisionId(svc.latestReadyRevision)} of ${name} is ready and serving (template annotation ${REVISION_ANNOTATION}=${job.id}, operation ${rollout.operation})`;
}

/**
 * restart_envoy on Kubernetes with `method: delete_pod`: deletes the workload's pod so that its
 * controller recreates it. Idempotent: a pod already gone, terminating, or created after the job
 * was decided is not deleted again. Refuses a bare pod (nothing would recreate it). Records a
 * Kubernetes Event on the pod. Needs ctx.kubernetes.
 */
export async function deleteWorkloadPod(job: RemediationRequest, w: Workload, ctx: ActionContext): Promise<string> {
  await checkScope(job, w, ctx, 'kubernetes');
  const kube = needKubernetes(ctx, job);
  const namespace = w.location;
  const name = podNameOf(w);
  const pod = await kube.getPod(namespace, name).catch(rethrowWithContext(`reading pod ${namespace}/${name}`));
  if (pod === null) return `pod ${namespace}/${name} no longer exists; nothing to delete`;
  if (pod.owner === null)
    throw new PermanentActionError(`refused: pod ${namespace}/${name} has no controller, so nothing would recreate it after a delete`);
  if (pod.terminating) return `pod ${namespace}/${name} is already terminating; its controller replaces it`;
  // creationTimestamp has whole seconds: a replacement from the decision's own second is not recognised
  // here, but restart_envoy's precheck (the new Envoy serves a current SVID) skips it.
  if (pod.createdAtMs !== null && pod.createdAtMs > job.decidedAt)
    return `pod ${namespace}/${name} was recreated after this job was decided (uid ${pod.uid}); not deleted again`;
  await kube.deletePod(namespace, name).catch(rethrowWithContext(`deleting pod ${namespace}/${name}`));
  const note = await recordActionEvent(
    ctx,
    job,
    { apiVersion: 'v1', kind: 'Pod', namespace, name, uid: pod.uid },
    EVENT_REASONS.deletePod,
    'DeletePod',
    `deleted pod ${name} to restart its Envoy sidecar`,
  );
  return `deleted pod ${namespace}/${name} (uid ${pod.uid}); its ${pod.owner.kind} ${pod.owner.name} recreates it and the new Envoy fetches a current SVID over SDS${note}`;
}

/**
 * restart_envoy on Kubernetes (the default method): POST /quitquitquit on the workload's Envoy
 * admin endpoint; Envoy exits cleanly and the kubelet restarts only that container. With the
 * Kubernetes port configured, records a Kubernetes Event SpireHealerRestartEnvoy on the pod (read
 * first for its uid); an Event that cannot be recorded is a note in the detail, never a failure.
 * Idempotency is the caller's: restart_envoy's precheck skips an Envoy that was restarted already.
 */
export async function quitEnvoy(job: RemediationRequest, w: Workload, ctx: ActionContext, signal?: AbortSignal): Promise<string> {
  await ctx.envoy.quit(w.envoyAdminUrl, signal);
  const note = w.platform === 'kubernetes' ? await recordQuitEvent(job, w, ctx) : '';
  return `POST ${w.envoyAdminUrl}/quitquitquit accepted; Envoy restarts and re-fetches its SVID over SDS${note}`;
}

/** The Event of a quit on the workload's pod: '' when recorded (or Kubernetes is not configured), else a note for the detail. */
async function recordQuitEvent(job: RemediationRequest, w: Workload, ctx: ActionContext): Promise<string> {
  const kube = ctx.kubernetes;
  if (kube === undefined || kube === null) return '';
  const namespace = w.location;
  const name = podNameOf(w);
  let uid: string;
  try {
    const pod = await kube.getPod(namespace, name);
    if (pod === null) return `; no Kubernetes Event: pod ${namespace}/${name} was not found`;
    uid = pod.uid;
  } catch (e: unknown) {
    return `; the Kubernetes Event could not be recorded (reading pod ${namespace}/${name}: ${errorMessage(e)})`;
  }
  return recordActionEvent(
    ctx,
    job,
    { apiVersion: 'v1', kind: 'Pod', namespace, name, uid },
    EVENT_REASONS.restartEnvoy,
    'RestartEnvoy',
    `restarted the Envoy sidecar of pod ${name} (POST /quitquitquit)`,
  );
}

/**
 * restart_envoy on Cloud Run: a new revision (see rollCloudRunRevision). Needs ctx.cloudrun;
 * `signal` bounds the wait for the rollout.
 */
export function newCloudRunRevision(
  job: RemediationRequest,
  w: Workload,
  ctx: ActionContext,
  signal: AbortSignal = new AbortController().signal,
): Promise<string> {
  return rollCloudRunRevision(job, w, ctx, signal);
}
