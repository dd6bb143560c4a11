import type { AuditLog } from '../knowledge/audit.js';
import type { Clock } from '../knowledge/clock.js';
import type { KnowledgeStore } from '../knowledge/knowledge-store.js';
import type { RemediationRequest } from '../knowledge/model/action-run.js';
import type { Workload } from '../knowledge/model/workload.js';
import type { RotationPolicy } from '../knowledge/svid-rotation.js';
import type { EnvoyAdminPort } from '../ports/envoy-admin.port.js';
import type { CloudRunPort } from '../ports/cloudrun.port.js';
import type { KubernetesInventoryPort } from '../ports/kubernetes.port.js';
import type { AgentDebugPort, SpireHealthPort, SpireServerPort } from '../ports/spire.port.js';

/**
 * Least privilege, enforced in code: actions refuse targets outside these. `simulated` says the
 * ports point at the simulated fleet (demo/simulate); with `production: true` an action refuses
 * simulated targets, and in a simulation it refuses real ones.
 */
export interface ActionScope {
  readonly production: boolean;
  readonly simulated: boolean;
  /** Trust domains actions may touch; empty = any. */
  readonly trustDomains: readonly string[];
  /** Kubernetes namespaces actions may touch; empty = any. */
  readonly namespaces: readonly string[];
}

/** Everything an action may use. Ports are interfaces; adapters are supplied by main.ts. */
export interface ActionContext {
  readonly store: KnowledgeStore;
  readonly audit: AuditLog;
  readonly clock: Clock;
  readonly envoy: EnvoyAdminPort;
  readonly rotation: RotationPolicy;
  /** Ports of the platforms, null when that platform is not configured. */
  readonly spireServer?: SpireServerPort | null;
  readonly kubernetes?: KubernetesInventoryPort | null;
  readonly cloudrun?: CloudRunPort | null;
  /** Live agent probes (health endpoint, Debug API) for prechecks that must not trust cached knowledge. */
  readonly spireHealth?: SpireHealthPort | null;
  readonly agentDebug?: AgentDebugPort | null;
  readonly scope?: ActionScope;
}

/** Result of re-checking the live target right before acting. */
export type Precheck =
  | { readonly proceed: true; readonly detail: string }
  /** `held`: a gate (kill switch, storm) stopped it, not the target; the plan runs the step again later. */
  | { readonly proceed: false; readonly detail: string; readonly held?: boolean };

/**
 * A remediation action. `precheck` resolves `job.target` itself (a workload, `agent:<node>`,
 * `trust-domain:<td>`, `configmap:<ns>/<name>`; see `resolveWorkloadTarget`), enforces
 * `ctx.scope`, and reads live state (never cached knowledge alone) so that a healthy target is
 * never touched; `{ proceed: false }` ends the job as skipped with the detail. `perform` must be
 * idempotent because a job can run twice (e.g. a restartedAt value fixed per job id, a delete that
 * tolerates NotFound). Throw `PermanentActionError` for errors a retry cannot fix (403/404,
 * InvalidArgument, FailedPrecondition); any other error counts as transient and is retried.
 */
export interface RemediationAction {
  readonly name: RemediationRequest['action'];
  precheck(job: RemediationRequest, ctx: ActionContext, signal: AbortSignal): Promise<Precheck>;
  perform(job: RemediationRequest, ctx: ActionContext, signal: AbortSignal): Promise<string>;
}

/** An error no retry can fix; the queue fails the job at once instead of retrying. */
export class PermanentActionError extends Error {
  override readonly name = 'PermanentActionError';
}

/**
 * Whether a retry cannot fix `e`: PermanentActionError, a port failure marked not retryable
 * (Kubernetes 403/404/422, SPIRE InvalidArgument/NotFound/PermissionDenied/FailedPrecondition),
 * Cloud Run not_found/invalid_argument/malformed, a SPIRE failure whose `retryable` is false, or such a gRPC status code. Everything else
 * (timeouts, 5xx, Unavailable, connection errors) counts as transient.
 */
export function isPermanentError(e: unknown): boolean {
  if (e instanceof PermanentActionError) return true;
  if (typeof e !== 'object' || e === null) return false;
  const f = (e as { failure?: unknown }).failure;
  if (typeof f === 'object' && f !== null && 'retryable' in f) return (f).retryable === false;
  if (typeof f === 'string') return ['not_found', 'invalid_argument', 'malformed'].includes(f);
  const code = (e as { code?: unknown }).code;
  // A SPIRE port failure (SpireFailure): string code plus its own retryable verdict.
  const retryable = (e as { retryable?: unknown }).retryable;
  if (typeof code === 'string' && typeof retryable === 'boolean') return !retryable;
  // gRPC: INVALID_ARGUMENT 3, NOT_FOUND 5, PERMISSION_DENIED 7, FAILED_PRECONDITION 9, UNAUTHENTICATED 16.
  return typeof code === 'number' && [3, 5, 7, 9, 16].includes(code);
}

/** The workload a workload-targeted job names, or a precheck that skips the job. */
export async function resolveWorkloadTarget(job: RemediationRequest, ctx: ActionContext): Promise<{ readonly workload: Workload } | { readonly skip: Precheck }> {
  const w = await ctx.store.getWorkload(job.target);
  if (w === null) return { skip: { proceed: false, detail: `target ${job.target} no longer exists in the inventory` } };
  const refusal = scopeRefusal(w, ctx.scope);
  if (refusal !== null) return { skip: { proceed: false, detail: refusal } };
  return { workload: w };
}

/** Whether a URL points at this machine (the simulated fleet serves only on loopback). */
export function isLoopbackUrl(url: string): boolean {
  try {
    const host = new URL(url).hostname;
    return host === 'localhost' || host === '[::1]' || host === '::1' || host.startsWith('127.');
  } catch {
    return false;
  }
}

/** Why `scope` forbids touching workload `w`, or null when it may be touched. */
export function scopeRefusal(w: Workload, scope: ActionScope | undefined): string | null {
  if (scope === undefined) return null;
  if (scope.trustDomains.length > 0 && !scope.trustDomains.includes(w.trustDomain)) {
    return `refused: ${w.id} is in trust domain ${w.trustDomain}, outside the configured ${scope.trustDomains.join(', ')}`;
  }
  if (w.platform === 'kubernetes' && scope.namespaces.length > 0 && !scope.namespaces.includes(w.location)) {
    return `refused: ${w.id} is in namespace ${w.location}, outside the configured ${scope.namespaces.join(', ')}`;
  }
  if (scope.production && scope.simulated) return `refused: ${w.id} belongs to the simulated fleet and the config says production: true`;
  if (scope.simulated && !isLoopbackUrl(w.envoyAdminUrl)) return `refused: ${w.id} (${w.envoyAdminUrl}) is not part of the simulated fleet; demo and simulate never touch real targets`;
  return null;
}
