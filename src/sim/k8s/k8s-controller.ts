/**
 * A tiny stand-in for kube-controller-manager, for the simulator (opt-in): a deleted pod whose
 * controller still exists comes back with a new uid and IP, and a template change on a
 * Deployment / StatefulSet / DaemonSet (e.g. `kubectl rollout restart`) replaces its pods (not
 * while a Deployment is paused); every new generation is recorded as status.observedGeneration.
 * Pods are recreated after the optional `beforeRecreate` hook. Simplification: a Deployment
 * keeps its one ReplicaSet instead of creating a new one per template.
 */
import { randomUUID } from 'node:crypto';
import { buildPod, PodIpAllocator } from './k8s-seed.js';
import type { KubeChange, KubeObject, KubeStore } from './k8s-store.js';

/** Options of the controllers. */
export interface KubeControllersOptions {
  /** Recreate pods under their old name (easier for a simulator to track). Default false (StatefulSets always keep names). */
  readonly keepPodNames?: boolean;
  /**
   * Runs when a pod its controller will recreate was deleted, before the new pod exists (what a
   * kubelet starting the new containers does to the world, e.g. a restarted SPIRE agent). The
   * annotations it resolves with are set on the new pod (e.g. the restarted agent's new
   * endpoints); a rejection recreates the pod anyway, with the old annotations.
   */
  readonly beforeRecreate?: (deleted: KubeObject) => Promise<Readonly<Record<string, string>> | undefined>;
}

interface PodShape {
  readonly spec?: {
    readonly nodeName?: string;
    readonly serviceAccountName?: string;
    readonly containers?: readonly {
      readonly name: string;
      readonly image: string;
      readonly ports?: readonly { readonly name: string; readonly containerPort: number }[];
    }[];
  };
}

const APPS_TOP = new Set(['deployments', 'statefulsets', 'daemonsets']);
const RESOURCE_OF: Readonly<Record<string, string>> = {
  ReplicaSet: 'replicasets',
  StatefulSet: 'statefulsets',
  DaemonSet: 'daemonsets',
  Deployment: 'deployments',
};

function controllerOf(o: KubeObject): { kind: string; name: string } | undefined {
  const refs = o.metadata.ownerReferences ?? [];
  return refs.find((r) => r.controller === true) ?? refs[0];
}

function templateOf(o: KubeObject | undefined): string {
  return JSON.stringify((o?.spec as { template?: unknown } | undefined)?.template ?? null);
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
    return up?.kind === 'Deployment' ? (store.get('deployments', direct.metadata.namespace, up.name) ?? direct) : direct;
  };

  const recreate = (pod: KubeObject, extra: Readonly<Record<string, string>> = {}): void => {
    const ref = controllerOf(pod);
    const owner = topOwner(pod);
    if (ref === undefined || owner === undefined) return;
    const shape = pod as unknown as PodShape;
    const keep = options.keepPodNames === true || ref.kind === 'StatefulSet';
    const name = keep ? pod.metadata.name : `${ref.name}-${randomUUID().slice(0, 5)}`;
    if (store.get('pods', pod.metadata.namespace, name) !== undefined) return;
    store.create(
      'pods',
      buildPod({
        namespace: pod.metadata.namespace ?? 'default',
        name,
        node: shape.spec?.nodeName ?? '',
        serviceAccount: shape.spec?.serviceAccountName ?? 'default',
        labels: pod.metadata.labels ?? {},
        annotations: { ...(pod.metadata.annotations ?? {}), ...templateAnnotations(owner), ...extra },
        owner: pod.metadata.ownerReferences?.[0],
        containers: shape.spec?.containers ?? [],
        podIP: ips.allocate(),
        startedAt: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
      }),
    );
  };

  const roll = (owner: KubeObject, resource: string, replacePods: boolean): void => {
    const generation = owner.metadata.generation ?? 1;
    const status = { ...(owner.status as Record<string, unknown> | undefined), observedGeneration: generation };
    const current = store.get(resource, owner.metadata.namespace, owner.metadata.name);
    if (current === undefined) return;
    store.update(resource, { ...current, status });
    if (!replacePods) return;
    for (const pod of store.list('pods', owner.metadata.namespace)) {
      const top = topOwner(pod);
      if (top?.metadata.uid === owner.metadata.uid) store.delete('pods', pod.metadata.namespace, pod.metadata.name);
    }
  };

  const onChange = (c: KubeChange): void => {
    if (c.resource === 'pods' && c.type === 'DELETED') {
      const pod = c.object;
      const hook = options.beforeRecreate;
      if (hook === undefined || topOwner(pod) === undefined)
        queueMicrotask(() => {
          recreate(pod);
        });
      else {
        hook(pod)
          .then(
            (extra) => {
              recreate(pod, extra);
            },
            () => {
              recreate(pod);
            },
          )
          .catch(() => undefined);
      }
    } else if (
      APPS_TOP.has(c.resource) &&
      c.type === 'MODIFIED' &&
      (c.object.metadata.generation ?? 0) > (c.previous?.metadata.generation ?? 0)
    ) {
      const owner = c.object;
      // Only a new pod template rolls the pods, and a paused Deployment does not roll at all.
      const replace =
        templateOf(owner) !== templateOf(c.previous) &&
        !(owner.kind === 'Deployment' && (owner.spec as { paused?: boolean } | undefined)?.paused === true);
      queueMicrotask(() => {
        roll(owner, c.resource, replace);
      });
    }
  };
  return store.subscribe(onChange);
}
