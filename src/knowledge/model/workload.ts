/** Where a workload runs. */
export type Platform = 'kubernetes' | 'cloudrun';

/**
 * A workload as the fleet model knows it: one SPIFFE identity served by one Envoy sidecar.
 * `id` is a stable key chosen by the inventory ("<namespace>/<name>" on Kubernetes,
 * "<project>/<region>/<service>" on Cloud Run) and is the subject of workload incidents.
 */
export interface Workload {
  readonly id: string;
  readonly spiffeId: string;
  readonly trustDomain: string;
  readonly platform: Platform;
  /** Namespace (Kubernetes) or project/region (Cloud Run). */
  readonly location: string;
  /** Kubernetes node name, when known. */
  readonly node?: string;
  /** SPIRE agent SPIFFE ID serving this workload, when known. */
  readonly agentId?: string;
  /** The controller that owns it (Deployment, StatefulSet, DaemonSet), when known: what a redeploy restarts. */
  readonly owner?: { readonly kind: string; readonly name: string };
  /** Selectors the workload's SPIRE agent attests it with (Delegated Identity subscriptions use them), when known. */
  readonly selectors?: readonly { readonly type: string; readonly value: string }[];
  /** Labels of the pod or Cloud Run service, when the inventory reports them (playbooks match on them). */
  readonly labels?: Readonly<Record<string, string>>;
  /** Base URL of the Envoy admin endpoint, e.g. http://127.0.0.1:9901 (paths like /certs are appended). */
  readonly envoyAdminUrl: string;
}
