import type { AuditLog } from '../knowledge/audit.js';
import type { Clock } from '../knowledge/clock.js';
import type { KnowledgeStore } from '../knowledge/knowledge-store.js';
import type { RemediationRequest } from '../knowledge/model/action-run.js';
import type { Workload } from '../knowledge/model/workload.js';
import type { RotationPolicy } from '../knowledge/svid-rotation.js';
import type { EnvoyAdminPort } from '../ports/envoy-admin.port.js';

/** Everything an action may use. Ports are interfaces; adapters are supplied by main.ts. */
export interface ActionContext {
  readonly store: KnowledgeStore;
  readonly audit: AuditLog;
  readonly clock: Clock;
  readonly envoy: EnvoyAdminPort;
  readonly rotation: RotationPolicy;
}

/** Result of re-checking the live target right before acting. */
export type Precheck = { readonly proceed: true; readonly detail: string } | { readonly proceed: false; readonly detail: string };

/**
 * A remediation action. `precheck` reads live state (never cached knowledge alone) so that a
 * healthy target is never touched; `perform` must be idempotent because a job can run twice.
 */
export interface RemediationAction {
  readonly name: RemediationRequest['action'];
  precheck(job: RemediationRequest, target: Workload, ctx: ActionContext, signal: AbortSignal): Promise<Precheck>;
  perform(job: RemediationRequest, target: Workload, ctx: ActionContext, signal: AbortSignal): Promise<string>;
}
