/**
 * Pure mapping from cached Kubernetes objects to the port's inventory: which pods are Envoy
 * workloads or SPIRE agents, owner resolution through ReplicaSets, SPIFFE ID and Envoy admin URL
 * rules, controller rollout state.
 */
import type { V1ConfigMap, V1DaemonSet, V1Deployment, V1OwnerReference, V1Pod, V1ReplicaSet, V1StatefulSet } from '@kubernetes/client-node';
import type { KubeAgentPod, KubeController, KubeInventory, KubeOwner, KubeRolloutKind, KubeWorkload } from '../../ports/kubernetes.port.js';
import { parseTrustBundle } from './trust-bundle.js';

/** Annotations the adapter reads on pods. */
export const KUBE_ANNOTATIONS = {
  spiffeId: 'spire-healer.io/spiffe-id',
  envoyAdminUrl: 'spire-healer.io/envoy-admin-url',
  envoyAdminPort: 'spire-healer.io/envoy-admin-port',
  restartedAt: 'kubectl.kubernetes.io/restartedAt',
} as const;

/** Default Envoy admin port. */
export const DEFAULT_ENVOY_ADMIN_PORT = 9901;

/** How the view interprets the cluster. */
export interface InventoryRules {
  /** Where the SPIRE agent pods run. */
  readonly spireNamespace: string;
  /** Namespace and name of the trust-bundle ConfigMap. */
  readonly bundleNamespace: string;
  readonly bundleConfigMap: string;
  readonly bundleKey: string;
  /** Labels an agent pod must carry (all of them). */
  readonly agentLabels: Readonly<Record<string, string>>;
  /** For derived SPIFFE IDs; null: no derivation. */
  readonly trustDomain: string | null;
}

/** The caches the view reads. */
export interface InventorySources {
  readonly pods: readonly V1Pod[];
  readonly replicaSets: readonly V1ReplicaSet[];
  readonly deployments: readonly V1Deployment[];
  readonly statefulSets: readonly V1StatefulSet[];
  readonly daemonSets: readonly V1DaemonSet[];
  readonly configMaps: readonly V1ConfigMap[];
}

export function controllerRef(refs: readonly V1OwnerReference[] | undefined): V1OwnerReference | undefined {
  return refs?.find((r) => r.controller === true) ?? refs?.[0];
}

function isEnvoyPod(pod: V1Pod): boolean {
  return (pod.spec?.containers ?? []).some((c) => c.name === 'envoy' || (c.image ?? '').includes('envoyproxy/envoy'));
}

export function isReady(pod: V1Pod): boolean {
  return (pod.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
}

function adminUrl(pod: V1Pod, annotations: Readonly<Record<string, string>>): string | null {
  const explicit = annotations[KUBE_ANNOTATIONS.envoyAdminUrl];
  if (explicit !== undefined && explicit !== '') return explicit;
  const ip = pod.status?.podIP;
  if (ip === undefined || ip === '') return null;
  const fromAnnotation = Number(annotations[KUBE_ANNOTATIONS.envoyAdminPort]);
  const envoy = (pod.spec?.containers ?? []).find((c) => c.name === 'envoy' || (c.image ?? '').includes('envoyproxy/envoy'));
  const named = envoy?.ports?.find((p) => p.name === 'envoy-admin') ?? envoy?.ports?.find((p) => p.name === 'admin');
  const port =
    Number.isInteger(fromAnnotation) && fromAnnotation > 0 && fromAnnotation < 65536
      ? fromAnnotation
      : (named?.containerPort ?? DEFAULT_ENVOY_ADMIN_PORT);
  return `http://${ip.includes(':') ? `[${ip}]` : ip}:${port}`;
}

/** Builds the inventory from the caches at `nowMs`; `degraded` lists failing resources. */
export function buildInventory(src: InventorySources, rules: InventoryRules, degraded: readonly string[], nowMs: number): KubeInventory {
  const rsIndex = new Map<string, V1ReplicaSet>();
  for (const rs of src.replicaSets) rsIndex.set(`${rs.metadata?.namespace ?? ''}/${rs.metadata?.name ?? ''}`, rs);
  const ownerOf = (pod: V1Pod): KubeOwner | null => {
    const ref = controllerRef(pod.metadata?.ownerReferences);
    if (ref === undefined) return null;
    if (ref.kind === 'ReplicaSet') {
      const up = controllerRef(rsIndex.get(`${pod.metadata?.namespace ?? ''}/${ref.name}`)?.metadata?.ownerReferences);
      if (up !== undefined) return { kind: up.kind, name: up.name };
    }
    return { kind: ref.kind, name: ref.name };
  };

  const workloads: KubeWorkload[] = [];
  const agents: KubeAgentPod[] = [];
  const agentLabels = Object.entries(rules.agentLabels);
  for (const pod of src.pods) {
    const namespace = pod.metadata?.namespace ?? '';
    const name = pod.metadata?.name ?? '';
    const annotations = { ...(pod.metadata?.annotations ?? {}) };
    const labels = pod.metadata?.labels ?? {};
    const common = { podIP: pod.status?.podIP ?? null, phase: pod.status?.phase ?? 'Unknown', ready: isReady(pod), annotations };
    if (namespace === rules.spireNamespace && agentLabels.every(([k, v]) => labels[k] === v)) {
      agents.push({ node: pod.spec?.nodeName ?? null, namespace, name, ...common });
      continue;
    }
    if (!isEnvoyPod(pod)) continue;
    const serviceAccount = pod.spec?.serviceAccountName ?? 'default';
    const annotated = annotations[KUBE_ANNOTATIONS.spiffeId];
    const spiffeId =
      annotated !== undefined && annotated !== ''
        ? annotated
        : rules.trustDomain === null
          ? null
          : `spiffe://${rules.trustDomain}/ns/${namespace}/sa/${serviceAccount}`;
    const envoyStatus = (pod.status?.containerStatuses ?? []).find((c) => c.name === 'envoy');
    workloads.push({
      id: `${namespace}/${name}`,
      namespace,
      podName: name,
      uid: pod.metadata?.uid ?? '',
      node: pod.spec?.nodeName ?? null,
      serviceAccount,
      owner: ownerOf(pod),
      spiffeId,
      envoyAdminUrl: adminUrl(pod, annotations),
      terminating: pod.metadata?.deletionTimestamp !== undefined,
      envoyRestarts: envoyStatus?.restartCount ?? 0,
      labels: { ...labels },
      ...common,
    });
  }
  workloads.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  agents.sort((a, b) => (a.node ?? '').localeCompare(b.node ?? '') || a.name.localeCompare(b.name));

  const cm = src.configMaps.find((c) => c.metadata?.namespace === rules.bundleNamespace && c.metadata.name === rules.bundleConfigMap);
  const bundle =
    cm === undefined
      ? null
      : parseTrustBundle(
          {
            namespace: rules.bundleNamespace,
            name: rules.bundleConfigMap,
            resourceVersion: cm.metadata?.resourceVersion ?? '',
            data: cm.data,
          },
          rules.bundleKey,
        );

  return { workloads, agents, bundle, controllers: controllers(src), degraded: [...degraded].sort(), observedAtMs: nowMs };
}

interface AppsObject {
  readonly metadata?: { readonly namespace?: string; readonly name?: string; readonly generation?: number };
  readonly spec?: {
    readonly paused?: boolean;
    readonly template?: { readonly metadata?: { readonly annotations?: Record<string, string> } };
  };
  readonly status?: { readonly observedGeneration?: number };
}

function controllerOf(kind: KubeRolloutKind, o: AppsObject, desired: number, ready: number, updated: number): KubeController {
  return {
    kind,
    namespace: o.metadata?.namespace ?? '',
    name: o.metadata?.name ?? '',
    generation: o.metadata?.generation ?? 0,
    observedGeneration: o.status?.observedGeneration ?? 0,
    restartedAt: o.spec?.template?.metadata?.annotations?.[KUBE_ANNOTATIONS.restartedAt] ?? null,
    desired,
    ready,
    updated,
    paused: kind === 'Deployment' && o.spec?.paused === true,
  };
}

/** The rollout state of one Deployment, StatefulSet or DaemonSet object. */
export function deploymentView(d: V1Deployment): KubeController {
  return controllerOf('Deployment', d, d.spec?.replicas ?? 1, d.status?.readyReplicas ?? 0, d.status?.updatedReplicas ?? 0);
}

/** See deploymentView. */
export function statefulSetView(s: V1StatefulSet): KubeController {
  return controllerOf('StatefulSet', s, s.spec?.replicas ?? 1, s.status?.readyReplicas ?? 0, s.status?.updatedReplicas ?? 0);
}

/** See deploymentView. */
export function daemonSetView(d: V1DaemonSet): KubeController {
  return controllerOf(
    'DaemonSet',
    d,
    d.status?.desiredNumberScheduled ?? 0,
    d.status?.numberReady ?? 0,
    d.status?.updatedNumberScheduled ?? 0,
  );
}

function controllers(src: InventorySources): KubeController[] {
  const out = [...src.deployments.map(deploymentView), ...src.statefulSets.map(statefulSetView), ...src.daemonSets.map(daemonSetView)];
  const key = (c: KubeController): string => `${c.kind}\u0000${c.namespace}\u0000${c.name}`;
  return out.sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
}
