/**
 * A tiny stand-in for kube-controller-manager, for the simulator (opt-in): a deleted pod whose
 * controller still exists comes back with a new uid and IP, and a template change on a
 * Deployment / StatefulSet / DaemonSet (e.g. `kubectl rollout restart`) replaces its pods and
 * records status.observedGeneration. Simplification: a Deployment keeps its one ReplicaSet
 * instead of creating a new one per template.
 */
import { randomUUID } from 'node:crypto';
import { buildPod, PodIpAllocator } from './k8s-seed.js';
import type { KubeChange, KubeObject, KubeStore } from './k8s-store.js';

/** Options of the controllers. */
export interface KubeControllersOptions {
  /** Recreate pods under their old name (easier for a simulator to track). Default false (StatefulSets always keep names). */
  readonly keepPodNames?: boolean;
}

interface PodShape {
  readonly spec?: { readonly nodeName?: string; readonly serviceAccountName?: string;
    readonly containers?: readonly { readonly name: string; readonly image: string; readonly ports?: readonly { readonly name: string; readonly containerPort: number }[] }[] };
}

const APPS_TOP = new Set(['deployments', 'statefulsets', 'daemonsets']);
const RESOURCE_OF: Readonly<Record<string, string>> = { ReplicaSet: 'replicasets', StatefulSet: 'statefulsets', DaemonSet: 'daemonsets', Deployment: 'deployments' };

function controllerOf(o: KubeObject): { kind: string; name: string } | undefined {
  const refs = o.metadata.ownerReferences ?? [];
  return refs.find((r) => r.controller === true) ?? refs[0];
}

function templateAnnotations(owner: KubeObject): Record<string, string> {
  const t = (owner.spec as { template?: { metadata?: { annotations?: Record<string, string> } } } | undefined)?.template;
  return { ...(t?.metadata?.annotations ?? {}) };
}

/** Starts the controllers on `store`; returns the stop function. Writes happen in a microtask, after the triggering change is delivered. */
export function startKubeControllers(store: KubeStore, options: KubeControllersOptions = {}): () => void {
  const ips = new PodIpAllocator();
  // Start far from the seed's range so recreated pods rarely reuse an address.
  for (let i = 0; i < 60_000; i += 1) ips.allocate();

  /** The top controller (Deployment through its ReplicaSet) of a pod, if it still exists. */
  const topOwner = (pod: KubeObject): KubeObject | undefined => {
    const ref = controllerOf(pod);
    const resource = ref === undefined ? undefined : RESOURCE_OF[ref.kind];
    if (ref === undefined || resource === undefined) return undefined;
    const direct = store.get(resource, pod.metadata.namespace, ref.name);
    if (direct === undefined || direct.kind !== 'ReplicaSet') return direct;
    const up = controllerOf(direct);
    return up?.kind === 'Deployment' ? store.get('deployments', direct.metadata.namespace, up.name) ?? direct : direct;
  };

  const recreate = (pod: KubeObject): void => {
    const ref = controllerOf(pod);
    const owner = topOwner(pod);
    if (ref === undefined || owner === undefined) return;
    const shape = pod as unknown as PodShape;
    const keep = options.keepPodNames === true || ref.kind === 'StatefulSet';
    const name = keep ? pod.metadata.name : `${ref.name}-${randomUUID().slice(0, 5)}`;
    if (store.get('pods', pod.metadata.namespace, name) !== undefined) return;
    store.create('pods', buildPod({
      namespace: pod.metadata.namespace ?? 'default', name, node: shape.spec?.nodeName ?? '', serviceAccount: shape.spec?.serviceAccountName ?? 'default',
      labels: pod.metadata.labels ?? {}, annotations: { ...(pod.metadata.annotations ?? {}), ...templateAnnotations(owner) },
      owner: pod.metadata.ownerReferences?.[0], containers: shape.spec?.containers ?? [], podIP: ips.allocate(),
      startedAt: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
    }));
  };

  const roll = (owner: KubeObject, resource: string): void => {
    const generation = owner.metadata.generation ?? 1;
    const status = { ...(owner.status as Record<string, unknown> | undefined), observedGeneration: generation };
    const current = store.get(resource, owner.metadata.namespace, owner.metadata.name);
    if (current === undefined) return;
    store.update(resource, { ...current, status });
    for (const pod of store.list('pods', owner.metadata.namespace)) {
      const top = topOwner(pod);
      if (top?.metadata.uid === owner.metadata.uid) store.delete('pods', pod.metadata.namespace, pod.metadata.name);
    }
  };

  const onChange = (c: KubeChange): void => {
    if (c.resource === 'pods' && c.type === 'DELETED') {
      const pod = c.object;
      queueMicrotask(() => { recreate(pod); });
    } else if (APPS_TOP.has(c.resource) && c.type === 'MODIFIED' && (c.object.metadata.generation ?? 0) > (c.previous?.metadata.generation ?? 0)) {
      const owner = c.object;
      queueMicrotask(() => { roll(owner, c.resource); });
    }
  };
  return store.subscribe(onChange);
}
