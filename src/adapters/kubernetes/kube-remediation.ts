/**
 * The live reads and writes remediation needs, over @kubernetes/client-node 1.4: pods (owner
 * resolved through its ReplicaSet), the agent pod of a node, one controller's rollout state, the
 * trust-bundle ConfigMap (read, and replace with an optimistic resourceVersion), pod logs and
 * core/v1 Events. Every failure rejects with a KubernetesError naming operation, endpoint and
 * resource; a missing object is null where the port says so.
 */
import {
  CoreV1Event,
  V1ConfigMap,
  V1EventSource,
  V1ObjectMeta,
  V1ObjectReference,
  type AppsV1Api,
  type CoreV1Api,
  type V1Pod,
} from '@kubernetes/client-node';
import type {
  KubeConfigMapKeyRef,
  KubeController,
  KubeEventInput,
  KubeOwner,
  KubePod,
  KubePodLogOptions,
  KubeRolloutKind,
  KubeTrustBundleRead,
} from '../../ports/kubernetes.port.js';
import { controllerRef, daemonSetView, deploymentView, isReady, statefulSetView } from './inventory-view.js';
import { KubernetesError, toKubeFailure } from './kube-failure.js';
import { parseTrustBundle } from './trust-bundle.js';

/** The component name events are recorded under (source.component, reportingComponent). */
export const EVENT_COMPONENT = 'spire-healer';

/** What the functions here need: the clients, the API server's address and the agent rules. */
export interface KubeRemediationDeps {
  readonly core: CoreV1Api;
  readonly apps: AppsV1Api;
  readonly endpoint: string;
  readonly spireNamespace: string;
  readonly agentLabels: Readonly<Record<string, string>>;
  /** reportingInstance of recorded events (e.g. the daemon's pod name). */
  readonly instance: string;
}

/** Runs `call`; a 404 becomes null, anything else a KubernetesError. */
async function orNull<T>(deps: KubeRemediationDeps, operation: string, resource: string, call: () => Promise<T>): Promise<T | null> {
  try {
    return await call();
  } catch (e: unknown) {
    const failure = toKubeFailure(e, operation, deps.endpoint, resource);
    if (failure.code === 'not_found') return null;
    throw new KubernetesError(failure);
  }
}

/** Runs `call`, turning any failure into a KubernetesError. */
async function checked<T>(deps: KubeRemediationDeps, operation: string, resource: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (e: unknown) {
    if (e instanceof KubernetesError) throw e;
    throw new KubernetesError(toKubeFailure(e, operation, deps.endpoint, resource), { cause: e });
  }
}

function timeMs(t: unknown): number | null {
  if (t instanceof Date) return Number.isNaN(t.getTime()) ? null : t.getTime();
  if (typeof t === 'string') {
    const ms = Date.parse(t);
    return Number.isNaN(ms) ? null : ms;
  }
  return null;
}

async function toKubePod(deps: KubeRemediationDeps, pod: V1Pod): Promise<KubePod> {
  const namespace = pod.metadata?.namespace ?? '';
  const ref = controllerRef(pod.metadata?.ownerReferences);
  let owner: KubeOwner | null = ref === undefined ? null : { kind: ref.kind, name: ref.name };
  if (ref?.kind === 'ReplicaSet') {
    const rs = await orNull(deps, 'get', `replicasets ${namespace}/${ref.name}`, () =>
      deps.apps.readNamespacedReplicaSet({ name: ref.name, namespace }),
    );
    const up = controllerRef(rs?.metadata?.ownerReferences);
    if (up !== undefined) owner = { kind: up.kind, name: up.name };
  }
  return {
    namespace,
    name: pod.metadata?.name ?? '',
    uid: pod.metadata?.uid ?? '',
    node: pod.spec?.nodeName ?? null,
    phase: pod.status?.phase ?? 'Unknown',
    ready: isReady(pod),
    terminating: pod.metadata?.deletionTimestamp !== undefined,
    createdAtMs: timeMs(pod.metadata?.creationTimestamp),
    owner,
    containers: (pod.spec?.containers ?? []).map((c) => c.name),
    labels: { ...(pod.metadata?.labels ?? {}) },
    annotations: { ...(pod.metadata?.annotations ?? {}) },
  };
}

/** One pod, or null. */
export async function getPod(deps: KubeRemediationDeps, namespace: string, name: string): Promise<KubePod | null> {
  const pod = await orNull(deps, 'get', `pods ${namespace}/${name}`, () => deps.core.readNamespacedPod({ name, namespace }));
  return pod === null ? null : toKubePod(deps, pod);
}

/** The agent pod on `node`: a running one first, else a terminating one; null when none. */
export async function getAgentPod(deps: KubeRemediationDeps, node: string): Promise<KubePod | null> {
  const namespace = deps.spireNamespace;
  const labelSelector = Object.entries(deps.agentLabels)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
  const list = await checked(deps, 'list', `pods ${namespace} (${labelSelector}, node ${node})`, () =>
    deps.core.listNamespacedPod({ namespace, labelSelector, fieldSelector: `spec.nodeName=${node}` }),
  );
  const pods = list.items.filter((p) => p.spec?.nodeName === node);
  const pick = pods.find((p) => p.metadata?.deletionTimestamp === undefined) ?? pods[0];
  return pick === undefined ? null : toKubePod(deps, pick);
}

/** One controller's rollout state, or null. */
export async function getController(
  deps: KubeRemediationDeps,
  kind: KubeRolloutKind,
  namespace: string,
  name: string,
): Promise<KubeController | null> {
  const resource = `${kind.toLowerCase()}s ${namespace}/${name}`;
  if (kind === 'Deployment') {
    const d = await orNull(deps, 'get', resource, () => deps.apps.readNamespacedDeployment({ name, namespace }));
    return d === null ? null : deploymentView(d);
  }
  if (kind === 'StatefulSet') {
    const s = await orNull(deps, 'get', resource, () => deps.apps.readNamespacedStatefulSet({ name, namespace }));
    return s === null ? null : statefulSetView(s);
  }
  const ds = await orNull(deps, 'get', resource, () => deps.apps.readNamespacedDaemonSet({ name, namespace }));
  return ds === null ? null : daemonSetView(ds);
}

/** The ConfigMap key parsed as a trust bundle, or null when the ConfigMap does not exist. */
export async function readTrustBundle(deps: KubeRemediationDeps, ref: KubeConfigMapKeyRef): Promise<KubeTrustBundleRead | null> {
  const cm = await orNull(deps, 'get', `configmaps ${ref.namespace}/${ref.name}`, () =>
    deps.core.readNamespacedConfigMap({ name: ref.name, namespace: ref.namespace }),
  );
  if (cm === null) return null;
  const bundle = parseTrustBundle(
    { namespace: ref.namespace, name: ref.name, resourceVersion: cm.metadata?.resourceVersion ?? '', data: cm.data },
    ref.key,
  );
  return { bundle, text: cm.data?.[ref.key] ?? null };
}

/**
 * PUT of the ConfigMap with data[key] = pem and the caller's resourceVersion: the API server
 * answers 409 when the ConfigMap changed since the caller read it. Returns the new resourceVersion.
 */
export async function writeTrustBundle(
  deps: KubeRemediationDeps,
  ref: KubeConfigMapKeyRef,
  pem: string,
  resourceVersion: string,
): Promise<string> {
  const resource = `configmaps ${ref.namespace}/${ref.name}`;
  if (resourceVersion === '') {
    throw new KubernetesError({
      message: `kubernetes replace ${resource} at ${deps.endpoint} refused: no resourceVersion (an unconditional write could undo a concurrent one)`,
      endpoint: deps.endpoint,
      resource,
      code: 'invalid',
      httpStatus: null,
    });
  }
  const current = await checked(deps, 'get', resource, () =>
    deps.core.readNamespacedConfigMap({ name: ref.name, namespace: ref.namespace }),
  );
  const body = Object.assign(new V1ConfigMap(), current, {
    metadata: Object.assign(new V1ObjectMeta(), current.metadata, { resourceVersion }),
    data: { ...(current.data ?? {}), [ref.key]: pem },
  });
  const written = await checked(deps, 'replace', resource, () =>
    deps.core.replaceNamespacedConfigMap({ name: ref.name, namespace: ref.namespace, body }),
  );
  return written.metadata?.resourceVersion ?? '';
}

/** The pod's log text. */
export async function readPodLog(
  deps: KubeRemediationDeps,
  namespace: string,
  name: string,
  options: KubePodLogOptions = {},
): Promise<string> {
  return checked(deps, 'log', `pods ${namespace}/${name}/log`, () =>
    deps.core.readNamespacedPodLog({
      name,
      namespace,
      ...(options.container === undefined ? {} : { container: options.container }),
      ...(options.tailLines === undefined ? {} : { tailLines: options.tailLines }),
      ...(options.limitBytes === undefined ? {} : { limitBytes: options.limitBytes }),
    }),
  );
}

/** POST of a core/v1 Event; 409 AlreadyExists (the same event recorded before) is success. */
export async function recordEvent(deps: KubeRemediationDeps, e: KubeEventInput): Promise<void> {
  const namespace = e.involvedObject.namespace;
  const at = new Date(e.atMs);
  const involvedObject = Object.assign(new V1ObjectReference(), {
    apiVersion: e.involvedObject.apiVersion,
    kind: e.involvedObject.kind,
    namespace,
    name: e.involvedObject.name,
    ...(e.involvedObject.uid === undefined ? {} : { uid: e.involvedObject.uid }),
  });
  const body = Object.assign(new CoreV1Event(), {
    apiVersion: 'v1',
    kind: 'Event',
    metadata: Object.assign(new V1ObjectMeta(), { name: e.name, namespace }),
    involvedObject,
    type: e.type,
    reason: e.reason,
    message: e.message,
    action: e.action,
    source: Object.assign(new V1EventSource(), { component: EVENT_COMPONENT }),
    reportingComponent: EVENT_COMPONENT,
    reportingInstance: deps.instance,
    firstTimestamp: at,
    lastTimestamp: at,
    count: 1,
  });
  try {
    await deps.core.createNamespacedEvent({ namespace, body });
  } catch (err: unknown) {
    const failure = toKubeFailure(err, 'create', deps.endpoint, `events ${namespace}/${e.name}`);
    if (failure.code !== 'conflict') throw new KubernetesError(failure);
  }
}
