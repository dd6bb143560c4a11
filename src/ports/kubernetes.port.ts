/**
 * Port to a Kubernetes cluster: a continuously updated inventory of the mesh (workload pods with
 * an Envoy sidecar, SPIRE agent pods, the SPIRE trust-bundle ConfigMap, rollout state of their
 * controllers) plus the live reads and writes remediation needs. Plain data only: times in ms since epoch,
 * fingerprints and serials lowercase hex, no vendor types.
 */

/** A pod's top controller: Deployment (resolved through its ReplicaSet), StatefulSet, DaemonSet, or whatever else owns it. */
export interface KubeOwner {
  readonly kind: string;
  readonly name: string;
}

/** A pod that carries an Envoy sidecar (container "envoy" or an envoyproxy/envoy image). */
export interface KubeWorkload {
  /** "<namespace>/<pod name>". */
  readonly id: string;
  readonly namespace: string;
  readonly podName: string;
  readonly uid: string;
  /** spec.nodeName; null while unscheduled. */
  readonly node: string | null;
  readonly serviceAccount: string;
  /** Top controller; null for a bare pod. */
  readonly owner: KubeOwner | null;
  /**
   * Annotation spire-healer.io/spiffe-id when present, else spiffe://<trust domain>/ns/<ns>/sa/<sa>
   * when the adapter knows the trust domain, else null.
   */
  readonly spiffeId: string | null;
  /**
   * Annotation spire-healer.io/envoy-admin-url when present, else http://<podIP>:<port> where
   * port = annotation spire-healer.io/envoy-admin-port, else the Envoy container's port named
   * "envoy-admin" (or "admin"), else 9901. Null when the pod has no IP yet.
   */
  readonly envoyAdminUrl: string | null;
  readonly podIP: string | null;
  /** status.phase ("Running", "Pending", …; "Unknown" when absent). */
  readonly phase: string;
  /** The Ready condition is True. */
  readonly ready: boolean;
  /** True once metadata.deletionTimestamp is set. */
  readonly terminating: boolean;
  /** restartCount of the Envoy container (0 when unknown). */
  readonly envoyRestarts: number;
  /** metadata.labels (playbooks match on them; the simulated fleet's marker is one). */
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
}

/** A SPIRE agent pod (label app=spire-agent in the SPIRE namespace). */
export interface KubeAgentPod {
  /** spec.nodeName; null while unscheduled. */
  readonly node: string | null;
  readonly namespace: string;
  readonly name: string;
  readonly podIP: string | null;
  readonly phase: string;
  readonly ready: boolean;
  readonly annotations: Readonly<Record<string, string>>;
}

/** One certificate of the trust bundle. */
export interface KubeBundleCertificate {
  /** SHA-256 of the DER, lowercase hex without separators. */
  readonly sha256: string;
  /** Lowercase hex. */
  readonly serialHex: string;
  readonly subject: string;
  readonly notAfterMs: number;
  readonly isCa: boolean;
}

/** The trust-bundle ConfigMap, parsed. Unparseable content never throws: it becomes `problems`. */
export interface KubeTrustBundle {
  readonly namespace: string;
  readonly name: string;
  readonly key: string;
  readonly resourceVersion: string;
  /** Certificates that parsed, in file order. */
  readonly certificates: readonly KubeBundleCertificate[];
  /** One sentence per defect, each naming "<namespace>/<name>" and the key (missing key, no PEM block, bad certificate, stray text). */
  readonly problems: readonly string[];
}

/** Rollout state of a Deployment, StatefulSet or DaemonSet. */
export interface KubeController {
  readonly kind: KubeRolloutKind;
  readonly namespace: string;
  readonly name: string;
  readonly generation: number;
  /** status.observedGeneration (0 when absent): below `generation` while the controller has not caught up. */
  readonly observedGeneration: number;
  /** spec.template annotation kubectl.kubernetes.io/restartedAt, null when never restarted. */
  readonly restartedAt: string | null;
  /** Desired pods (DaemonSet: desiredNumberScheduled). */
  readonly desired: number;
  readonly ready: number;
  readonly updated: number;
  /** spec.paused of a Deployment (always false for StatefulSets and DaemonSets): a paused Deployment cannot be restarted. */
  readonly paused: boolean;
}

/** Everything the adapter currently knows, built from its caches. */
export interface KubeInventory {
  /** Sorted by id. */
  readonly workloads: readonly KubeWorkload[];
  /** Sorted by node then name. */
  readonly agents: readonly KubeAgentPod[];
  /** Null when the ConfigMap does not exist. */
  readonly bundle: KubeTrustBundle | null;
  /** Sorted by kind, namespace, name. */
  readonly controllers: readonly KubeController[];
  /** Resources ("pods", "configmaps", …) whose watch is failing right now: their part may be stale. */
  readonly degraded: readonly string[];
  readonly observedAtMs: number;
}

/** Why a Kubernetes call failed. */
export type KubeFailureCode =
  | 'not_found'
  | 'conflict'
  | 'unauthorized'
  | 'forbidden'
  | 'invalid'
  | 'expired'
  | 'too_many_requests'
  | 'server_error'
  | 'unavailable'
  | 'malformed'
  | 'network'
  | 'timeout'
  | 'unknown';

/** A failed call or watch, as data. */
export interface KubeFailure {
  /** Names the operation, the endpoint and the resource, plus the server's or the socket's message. */
  readonly message: string;
  /** Base URL of the API server. */
  readonly endpoint: string;
  /** "pods", "configmaps spire/spire-bundle", "deployments shop/web", … */
  readonly resource: string;
  readonly code: KubeFailureCode;
  /** HTTP status when there was one. */
  readonly httpStatus: number | null;
}

/** Callbacks of watchInventory. They must not throw (a throw is swallowed). */
export interface KubeInventoryHandlers {
  /** A full snapshot: first once every resource has been listed, then after changes (throttled). */
  onSnapshot(inventory: KubeInventory): void;
  /** A watch or list failed; `willRetryInMs` is the backoff before the restart (null: closed, no retry). */
  onError(failure: KubeFailure, willRetryInMs: number | null): void;
}

/** A running inventory watch. */
export interface KubeInventoryWatch {
  /** Stops every watch and timer; no callback fires after it resolves. */
  close(): Promise<void>;
}

/** Controllers `restartRollout` can restart. */
export type KubeRolloutKind = 'Deployment' | 'StatefulSet' | 'DaemonSet';

/** One key of one ConfigMap. */
export interface KubeConfigMapKeyRef {
  readonly namespace: string;
  readonly name: string;
  readonly key: string;
}

/** One pod, read live (not from the inventory cache). */
export interface KubePod {
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
  /** spec.nodeName; null while unscheduled. */
  readonly node: string | null;
  readonly phase: string;
  readonly ready: boolean;
  readonly terminating: boolean;
  /** metadata.creationTimestamp in ms; null when absent. */
  readonly createdAtMs: number | null;
  /** Top controller (Deployment resolved through its ReplicaSet); null for a bare pod. */
  readonly owner: KubeOwner | null;
  /** Container names, in spec order. */
  readonly containers: readonly string[];
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
}

/** A trust-bundle ConfigMap key read live: the raw text (null when the key is absent) and its parse. */
export interface KubeTrustBundleRead {
  readonly bundle: KubeTrustBundle;
  readonly text: string | null;
}

/** What readPodLog returns at most. */
export interface KubePodLogOptions {
  /** Default: the pod's only container (the API server rejects a multi-container pod without one). */
  readonly container?: string;
  /** The last N lines only. */
  readonly tailLines?: number;
  /** Stop after this many bytes. */
  readonly limitBytes?: number;
}

/** The object a core/v1 Event is about. */
export interface KubeObjectRef {
  /** "v1", "apps/v1". */
  readonly apiVersion: string;
  readonly kind: string;
  readonly namespace: string;
  readonly name: string;
  /** metadata.uid when known (kubectl describe matches events by it). */
  readonly uid?: string;
}

/** A core/v1 Event, as a controller records one about an object it acted on. */
export interface KubeEventInput {
  /** metadata.name, unique in the object's namespace: recording the same name twice records it once. */
  readonly name: string;
  readonly involvedObject: KubeObjectRef;
  readonly type: 'Normal' | 'Warning';
  /** UpperCamelCase, e.g. "SpireHealerRestart". */
  readonly reason: string;
  readonly message: string;
  /** What was done, e.g. "DeletePod". */
  readonly action: string;
  /** When it happened (ms). */
  readonly atMs: number;
}

/**
 * The Kubernetes side of the fleet. Calls reject with a ClassifiedError carrying `failure: KubeFailure`
 * (its retry class decided by the adapter from the failure's code: 401, 403, 404 and 400/422 are
 * permanent) and do not retry internally.
 */
export interface KubernetesInventoryPort {
  /** Starts watching; survives server-side closes, 410 Gone (re-list) and errors (reported, retried with capped backoff). */
  watchInventory(handlers: KubeInventoryHandlers): KubeInventoryWatch;
  /** What `kubectl rollout restart` does: sets spec.template annotation kubectl.kubernetes.io/restartedAt = `at` (RFC 3339, seconds). */
  restartRollout(kind: KubeRolloutKind, namespace: string, name: string, at: Date): Promise<void>;
  /** Deletes one pod (its controller recreates it). A pod already gone is success. */
  deletePod(namespace: string, name: string): Promise<void>;

  // Live reads and writes for remediation (never served from the inventory cache).

  /** The trust-bundle ConfigMap key the inventory watches (configured namespace, name and key). */
  trustBundleRef(): KubeConfigMapKeyRef;
  /** One pod; null when it does not exist. */
  getPod(namespace: string, name: string): Promise<KubePod | null>;
  /** The SPIRE agent pod scheduled on `node` (agent labels, SPIRE namespace; a terminating one only when no other); null when none. */
  getAgentPod(node: string): Promise<KubePod | null>;
  /** Rollout state of one controller, `paused` included; null when it does not exist. */
  getController(kind: KubeRolloutKind, namespace: string, name: string): Promise<KubeController | null>;
  /** One ConfigMap key parsed as a trust bundle; null when the ConfigMap does not exist. */
  readTrustBundle(ref: KubeConfigMapKeyRef): Promise<KubeTrustBundleRead | null>;
  /**
   * Replaces the ConfigMap with `data[ref.key] = pem` (other keys kept) and
   * metadata.resourceVersion = `resourceVersion`: optimistic concurrency, so a ConfigMap changed
   * since that version rejects with failure code `conflict` (HTTP 409) and nothing is written.
   * Resolves with the new resourceVersion.
   */
  writeTrustBundle(ref: KubeConfigMapKeyRef, pem: string, resourceVersion: string): Promise<string>;
  /** GET …/pods/{name}/log (text). */
  readPodLog(namespace: string, name: string, options?: KubePodLogOptions): Promise<string>;
  /** Creates a core/v1 Event in the object's namespace (source component "spire-healer"); an existing event of that name is success. */
  recordEvent(event: KubeEventInput): Promise<void>;
}
