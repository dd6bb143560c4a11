/**
 * What the platform actions share: the Kubernetes Event an action records on the object it acted
 * on (like a controller: core/v1 Event, source component spire-healer, message naming the
 * incident), least-privilege checks for targets that are not workloads (agents, ConfigMaps, trust
 * domains), the ports an action cannot work without, and the Kubernetes failure a port call rejected with.
 */
import { createHash } from 'node:crypto';
import { errorMessage } from '../../knowledge/error-text.js';
import type { RemediationRequest } from '../../knowledge/model/action-run.js';
import type { CloudRunPort } from '../../ports/cloudrun.port.js';
import type { KubeFailure, KubeObjectRef, KubernetesInventoryPort } from '../../ports/kubernetes.port.js';
import type { SpireServerPort } from '../../ports/spire.port.js';
import { fleetRefusal, PermanentActionError, type ActionContext, type ActionScope } from '../action.js';

/** Event reasons, one per kind of effect. */
export const EVENT_REASONS = {
  restartAgent: 'SpireHealerRestartAgent',
  deletePod: 'SpireHealerRestart',
  restartEnvoy: 'SpireHealerRestartEnvoy',
  redeploy: 'SpireHealerRedeploy',
  syncBundle: 'SpireHealerBundleSync',
  /** force_rotation by agent eviction, recorded on the node's SPIRE agent pod. */
  forceRotation: 'SpireHealerForceRotation',
} as const;

/**
 * Records a Normal Event on `object` about what job `job` did. The event name is fixed per (job,
 * object, reason), so a job run twice records it once. Never throws: returns '' when recorded,
 * else a note for the action's detail (a failed event must not fail the action).
 */
export async function recordActionEvent(
  ctx: ActionContext,
  job: RemediationRequest,
  object: KubeObjectRef,
  reason: string,
  action: string,
  what: string,
): Promise<string> {
  const kube = ctx.kubernetes;
  if (kube === undefined || kube === null) return '';
  const digest = createHash('sha256').update(`${job.id}\u0000${object.kind}\u0000${object.name}\u0000${reason}`).digest('hex').slice(0, 16);
  try {
    await kube.recordEvent({
      name: `${object.name}.${digest}`,
      involvedObject: object,
      type: 'Normal',
      reason,
      action,
      atMs: ctx.clock.now(),
      message: `spire-healer ${what} for incident ${job.incidentId} (job ${job.id})`,
    });
    return '';
  } catch (e: unknown) {
    return `; the Kubernetes Event could not be recorded (${errorMessage(e)})`;
  }
}

/** The port, or a PermanentActionError: an action on a platform that is not configured cannot succeed by retrying. */
export function needKubernetes(ctx: ActionContext, job: RemediationRequest): KubernetesInventoryPort {
  if (ctx.kubernetes === undefined || ctx.kubernetes === null)
    throw new PermanentActionError(`${job.action} on ${job.target} needs Kubernetes, which is not configured`);
  return ctx.kubernetes;
}

/** See needKubernetes. */
export function needCloudRun(ctx: ActionContext, job: RemediationRequest): CloudRunPort {
  if (ctx.cloudrun === undefined || ctx.cloudrun === null)
    throw new PermanentActionError(`${job.action} on ${job.target} needs Cloud Run, which is not configured`);
  return ctx.cloudrun;
}

/** See needKubernetes. */
export function needSpireServer(ctx: ActionContext, job: RemediationRequest): SpireServerPort {
  if (ctx.spireServer === undefined || ctx.spireServer === null)
    throw new PermanentActionError(`${job.action} on ${job.target} needs the SPIRE server API, which is not configured`);
  return ctx.spireServer;
}

/**
 * Why `scope` forbids touching `what` (an agent pod, a ConfigMap) in `namespace` of `trustDomain`
 * (each checked when known), or null when it may be touched. `simulated`: whether `what`, as read
 * live, carries the simulated fleet's marker (SIMULATED_MARKER in ../action.ts; see fleetRefusal),
 * undefined when this call does not judge it (the caller then judges it once it has read the target).
 * The same rules as scopeRefusal.
 */
export function platformScopeRefusal(
  what: string,
  where: { readonly namespace?: string; readonly trustDomain?: string; readonly simulated?: boolean },
  scope: ActionScope | undefined,
): string | null {
  if (scope === undefined) return null;
  if (where.trustDomain !== undefined && scope.trustDomains.length > 0 && !scope.trustDomains.includes(where.trustDomain)) {
    return `refused: ${what} is in trust domain ${where.trustDomain}, outside the configured ${scope.trustDomains.join(', ')}`;
  }
  if (where.namespace !== undefined && scope.namespaces.length > 0 && !scope.namespaces.includes(where.namespace)) {
    return `refused: ${what} is in namespace ${where.namespace}, outside the configured ${scope.namespaces.join(', ')}`;
  }
  return where.simulated === undefined ? null : fleetRefusal(what, where.simulated, scope);
}

/** The failure a Kubernetes port call rejected with, when it carries one (to tell a conflict apart, not to decide a retry). */
export function kubeFailureOf(e: unknown): KubeFailure | null {
  const f = typeof e === 'object' && e !== null ? (e as { failure?: unknown }).failure : undefined;
  return typeof f === 'object' && f !== null && typeof (f as { code?: unknown }).code === 'string' ? (f as KubeFailure) : null;
}

/** A numeric step parameter, or `fallback` when absent; a non-number is a PermanentActionError. */
export function numberParam(job: RemediationRequest, key: string, fallback: number, min: number, max: number): number {
  const v = job.params?.[key];
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !Number.isFinite(v))
    throw new PermanentActionError(`${job.action}: parameter ${key} must be a number, got ${JSON.stringify(v)}`);
  return Math.min(max, Math.max(min, Math.floor(v)));
}

/** A string step parameter, or undefined; a non-string is a PermanentActionError. */
export function stringParam(job: RemediationRequest, key: string): string | undefined {
  const v = job.params?.[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || v === '')
    throw new PermanentActionError(`${job.action}: parameter ${key} must be a non-empty string, got ${JSON.stringify(v)}`);
  return v;
}
