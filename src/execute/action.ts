import type { AuditLog } from '../knowledge/audit.js';
import type { Clock } from '../knowledge/clock.js';
import type { KnowledgeStore } from '../knowledge/knowledge-store.js';
import type { RemediationRequest } from '../knowledge/model/action-run.js';
import type { Workload } from '../knowledge/model/workload.js';
import { errorMessage } from '../knowledge/error-text.js';
import type { RotationPolicy } from '../knowledge/svid-rotation.js';
import type { EnvoyAdminPort } from '../ports/envoy-admin.port.js';
import type { CloudRunPort, CloudRunPortError } from '../ports/cloudrun.port.js';
import { ClassifiedError, retryClassOf } from '../knowledge/errors/classified-error.js';
import type { KubernetesInventoryPort } from '../ports/kubernetes.port.js';
import { SIMULATED_CA_RDN, SIMULATED_MARKER } from '../knowledge/simulated-marker.js';
import type { SecretStorePort } from '../ports/secret-store.port.js';
import type { AgentDebugPort, SpireAgentRecord, SpireBundle, SpireHealthPort, SpireServerPort } from '../ports/spire.port.js';

/**
 * Least privilege, enforced in code: actions refuse targets outside these. Whether a target
 * belongs to the simulated fleet is read off the target itself (see SIMULATED_MARKER), never taken
 * from the config: with `production: true` an action refuses a target that carries the marker,
 * and in a simulation (`simulated`) one that does not.
 */
export interface ActionScope {
  readonly production: boolean;
  /** A demo/simulate run: the ports are meant to point at the simulated fleet, and nothing else may be touched. */
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
  /** Secret Manager, for sync_bundle's Cloud Run destination; null when not configured. */
  readonly secrets?: SecretStorePort | null;
  /**
   * The Cloud Run side of sync_bundle: the configured CA-bundle secret (projects/<p>/secrets/<s>,
   * null when none) and the Cloud Run locations watched. Their projects bound the secrets and the
   * services sync_bundle may touch; the locations are where it looks for services mounting the secret.
   */
  readonly cloudRunBundle?: {
    readonly secret: string | null;
    readonly locations: readonly { readonly project: string; readonly location: string }[];
  } | null;
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
 * tolerates NotFound). Whether a failure is retried is decided by its retry class alone
 * (ClassifiedError, knowledge/errors): port failures carry the class their adapter gave them (let
 * them through, or add context with rethrowWithContext, which keeps it); an action's own refusal
 * (bad params, a platform not configured, a target it must not touch) is a PermanentActionError.
 * Anything unclassified counts as retryable.
 */
export interface RemediationAction {
  readonly name: RemediationRequest['action'];
  precheck(job: RemediationRequest, ctx: ActionContext, signal: AbortSignal): Promise<Precheck>;
  perform(job: RemediationRequest, ctx: ActionContext, signal: AbortSignal): Promise<string>;
}

/** An action's own refusal no retry can fix (bad params, a platform not configured, a target out of scope): permanent. */
export class PermanentActionError extends ClassifiedError {
  override readonly name = 'PermanentActionError';

  /** Always permanent. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, 'permanent', options);
  }
}

/** The workload a workload-targeted job names, or a precheck that skips the job. */
export async function resolveWorkloadTarget(
  job: RemediationRequest,
  ctx: ActionContext,
  signal?: AbortSignal,
): Promise<{ readonly workload: Workload } | { readonly skip: Precheck }> {
  const w = await ctx.store.getWorkload(job.target);
  if (w === null) return { skip: { proceed: false, detail: `target ${job.target} no longer exists in the inventory` } };
  const refusal = await workloadScopeRefusal(w, ctx, signal);
  if (refusal !== null) return { skip: { proceed: false, detail: refusal } };
  return { workload: w };
}

/**
 * How an action tells the simulated fleet (src/sim) from real targets: by a marker the target
 * itself carries, read live through the port the action acts through, never from the config.
 *  - Kubernetes objects carry the label `spire-healer.io/simulated: "true"` (read on pods and
 *    agent pods: KubePod.labels; a workload is judged by its pod);
 *  - Cloud Run services carry it as an annotation (CloudRunService.annotations);
 *  - SPIRE agent records carry it as the k8s_psat selector `agent_pod_label:spire-healer.io/simulated:true`
 *    (the label of the agent pod, as k8s_psat reports it);
 *  - SPIRE CAs carry `OU=spire-healer.io/simulated` in their subject (SPIRE's configurable
 *    ca_subject): a trust domain, and the bundle ConfigMap it fills, are judged by the server's bundle;
 *  - Envoys carry it in /server_info `node.metadata` (EnvoyServerInfo.nodeMetadata; the simulated
 *    Envoys set it as a real Envoy's bootstrap would): a workload whose pod or service no port can
 *    read (e.g. one listed under `targets:`) is judged by the labels the inventory (or config)
 *    reported and, when those do not carry it, by its Envoy's node metadata.
 */
export { SIMULATED_CA_RDN, SIMULATED_MARKER };

/** Whether labels or annotations carry the simulated fleet's marker. */
export function isMarkedSimulated(meta: Readonly<Record<string, string>> | undefined): boolean {
  return meta?.[SIMULATED_MARKER] === 'true';
}

/** Whether a SPIRE agent record carries the marker (its agent pod's label, as a k8s_psat selector). */
export function agentRecordMarkedSimulated(rec: SpireAgentRecord): boolean {
  return rec.selectors.some((s) => s.type === 'k8s_psat' && s.value === `agent_pod_label:${SIMULATED_MARKER}:true`);
}

/** Whether a SPIRE server's bundle is the simulated fleet's: one of its X.509 authorities carries the marker in its subject. */
export function bundleMarkedSimulated(bundle: SpireBundle): boolean {
  return bundle.x509Authorities.some((a) => a.certificate.subject.split(/,\s*/).includes(SIMULATED_CA_RDN));
}

/** Whether `scope` asks which fleet a target belongs to at all (production, or a simulation): only then are markers read. */
export function judgesFleet(scope: ActionScope | undefined): boolean {
  return scope !== undefined && (scope.production || scope.simulated);
}

/**
 * Why `scope` forbids touching `what` given whether it carries the simulated fleet's marker
 * (`simulated`, as read off the target), or null.
 */
export function fleetRefusal(what: string, simulated: boolean, scope: ActionScope | undefined): string | null {
  if (scope === undefined) return null;
  if (scope.production && simulated)
    return `refused: ${what} belongs to the simulated fleet (it carries ${SIMULATED_MARKER}) and the config says production: true`;
  if (scope.simulated && !simulated)
    return `refused: ${what} does not carry the simulated fleet's marker ${SIMULATED_MARKER}; demo and simulate never touch real targets`;
  return null;
}

/** "<project>/<region>/<service>" → projects/<project>/locations/<region>/services/<service>. */
export function cloudRunServiceName(w: Workload): string {
  const [project, region, service, ...rest] = w.id.split('/');
  if (
    project === undefined ||
    region === undefined ||
    service === undefined ||
    project === '' ||
    region === '' ||
    service === '' ||
    rest.length > 0
  ) {
    throw new PermanentActionError(`Cloud Run workload id ${w.id} is not "<project>/<region>/<service>"`);
  }
  return `projects/${project}/locations/${region}/services/${service}`;
}

/** The pod name of a Kubernetes workload ("<namespace>/<pod>"). */
export function podNameOf(w: Workload): string {
  return w.id.startsWith(`${w.location}/`) ? w.id.slice(w.location.length + 1) : w.id.slice(w.id.lastIndexOf('/') + 1);
}

/**
 * Whether workload `w` carries the simulated fleet's marker, read live: its pod's labels
 * (Kubernetes), its service's annotations (Cloud Run); when the platform's port is not configured
 * or the object does not exist, the labels the inventory (or config) reported, else its Envoy's
 * /server_info node.metadata. A failed read rejects with the read's retry class, never guesses.
 */
export async function workloadMarkedSimulated(w: Workload, ctx: ActionContext, signal?: AbortSignal): Promise<boolean> {
  if (w.platform === 'kubernetes' && ctx.kubernetes !== undefined && ctx.kubernetes !== null) {
    const pod = await ctx.kubernetes.getPod(w.location, podNameOf(w));
    if (pod !== null) return isMarkedSimulated(pod.labels);
  }
  if (w.platform === 'cloudrun' && ctx.cloudrun !== undefined && ctx.cloudrun !== null) {
    try {
      return isMarkedSimulated((await ctx.cloudrun.getService(cloudRunServiceName(w), signal)).annotations);
    } catch (e: unknown) {
      // A service that does not exist (any more) is judged by its labels or its Envoy below.
      if ((e as Partial<CloudRunPortError> | null)?.failure !== 'not_found') throw e;
    }
  }
  if (isMarkedSimulated(w.labels)) return true;
  try {
    return isMarkedSimulated((await ctx.envoy.readServerInfo(w.envoyAdminUrl, signal)).nodeMetadata);
  } catch (e: unknown) {
    // Keeps the port's retry class (a malformed answer is permanent, an unreachable Envoy retryable), adds why it was read.
    throw new ClassifiedError(
      `cannot tell whether ${w.id} belongs to the simulated fleet: neither its pod nor its service could be read, and its Envoy's /server_info failed (${errorMessage(e)})`,
      retryClassOf(e),
      { cause: e },
    );
  }
}

/**
 * Why `ctx.scope` forbids touching `w`, reading its marker live when the scope judges the fleet
 * (scopeRefusal plus workloadMarkedSimulated), or null.
 */
export async function workloadScopeRefusal(w: Workload, ctx: ActionContext, signal?: AbortSignal): Promise<string | null> {
  const refusal = scopeRefusal(w, ctx.scope);
  if (refusal !== null || !judgesFleet(ctx.scope)) return refusal;
  return fleetRefusal(w.id, await workloadMarkedSimulated(w, ctx, signal), ctx.scope);
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

/**
 * Why `scope` forbids touching workload `w`, or null when it may be touched. `simulated`: whether
 * `w`, as read live, carries the simulated fleet's marker (see fleetRefusal); undefined when not
 * judged here (workloadScopeRefusal reads it). A simulation also refuses an Envoy off loopback.
 */
export function scopeRefusal(w: Workload, scope: ActionScope | undefined, simulated?: boolean): string | null {
  if (scope === undefined) return null;
  if (scope.trustDomains.length > 0 && !scope.trustDomains.includes(w.trustDomain)) {
    return `refused: ${w.id} is in trust domain ${w.trustDomain}, outside the configured ${scope.trustDomains.join(', ')}`;
  }
  if (w.platform === 'kubernetes' && scope.namespaces.length > 0 && !scope.namespaces.includes(w.location)) {
    return `refused: ${w.id} is in namespace ${w.location}, outside the configured ${scope.namespaces.join(', ')}`;
  }
  const fleet = simulated === undefined ? null : fleetRefusal(w.id, simulated, scope);
  if (fleet !== null) return fleet;
  if (scope.simulated && !isLoopbackUrl(w.envoyAdminUrl))
    return `refused: ${w.id} (${w.envoyAdminUrl}) is not part of the simulated fleet; demo and simulate never touch real targets`;
  return null;
}
