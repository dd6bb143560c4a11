/**
 * Seeds a KubeStore with a SPIRE + Envoy cluster from plain data: nodes, the trust-bundle
 * ConfigMap, the spire-agent DaemonSet and its pods, and workload pods with an Envoy sidecar
 * owned through Deployment → ReplicaSet → Pod (or StatefulSet / DaemonSet → Pod).
 */
import { createHash } from 'node:crypto';
import type { KubeObject, KubeOwnerReference, KubeStore, NewKubeObject } from './k8s-store.js';

/** Pod annotation carrying the workload's SPIFFE ID. */
const SPIFFE_ID_ANNOTATION = 'spire-healer.io/spiffe-id';
/** Pod annotation carrying the full URL of the workload's Envoy admin endpoint. */
export const ENVOY_ADMIN_URL_ANNOTATION = 'spire-healer.io/envoy-admin-url';
/** The trust-bundle ConfigMap name and key SPIRE's k8sbundle notifier writes. */
export const BUNDLE_CONFIGMAP = { name: 'spire-bundle', key: 'bundle.crt' } as const;

/** Images of the seeded containers. */
export const KUBE_SEED_IMAGES = {
  envoy: 'envoyproxy/envoy:v1.31.2',
  spireAgent: 'ghcr.io/spiffe/spire-agent:1.11.1',
  app: (name: string): string => `registry.example/${name}:1.0.0`,
} as const;

/** A top-level controller kind a workload pod can belong to. */
export type KubeSeedOwnerKind = 'Deployment' | 'StatefulSet' | 'DaemonSet';

/** One workload pod to seed. */
export interface KubeSeedWorkload {
  /** Fleet workload id (informational; the pod is namespace/podName). */
  readonly id: string;
  readonly namespace: string;
  readonly podName: string;
  readonly node: string;
  readonly serviceAccount: string;
  readonly owner: { readonly kind: KubeSeedOwnerKind; readonly name: string };
  readonly spiffeId: string;
  /** When given, set as the pod annotation spire-healer.io/envoy-admin-url. */
  readonly envoyAdminUrl?: string;
}

/** What seedKubernetes builds. */
export interface KubeSeedSpec {
  readonly nodes: readonly string[];
  /** Namespace of SPIRE: the bundle ConfigMap and the agent DaemonSet ("spire"). */
  readonly spireNamespace: string;
  /** data["bundle.crt"] of ConfigMap <spireNamespace>/spire-bundle (concatenated PEM). */
  readonly bundlePem: string;
  /** spire-agent DaemonSet pods (label app=spire-agent), one per node usually. */
  readonly agents: readonly { readonly node: string; readonly podName: string; readonly annotations?: Readonly<Record<string, string>> }[];
  readonly workloads: readonly KubeSeedWorkload[];
  /**
   * Labels every seeded object carries besides its own, pod templates included (so recreated pods
   * keep them) but not in selectors: the simulated fleet marks its objects with
   * spire-healer.io/simulated (see SIMULATED_MARKER in ../world-model.ts).
   */
  readonly labels?: Readonly<Record<string, string>>;
}

/** Counts of what was created. */
export interface KubeSeedResult {
  readonly nodes: number;
  readonly pods: number;
  readonly controllers: number;
}

/** Hands out pod IPs 10.x.y.z, skipping .0 and .255. */
export class PodIpAllocator {
  private next = 257;

  /** The next free address. */
  allocate(): string {
    while ((this.next & 255) === 0 || (this.next & 255) === 255) this.next += 1;
    const n = this.next++;
    return `10.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
  }
}

/** pod-template-hash-like suffix: 10 chars of [a-z0-9] derived from `s`. */
export function templateHash(s: string): string {
  return createHash('sha256')
    .update(s)
    .digest('hex')
    .slice(0, 10)
    .replace(/[0-9a-f]/g, (c) => 'bcdfghjklm'[parseInt(c, 16) % 10] ?? 'x');
}

function ownerRef(o: KubeObject): KubeOwnerReference {
  return { apiVersion: o.apiVersion, kind: o.kind, name: o.metadata.name, uid: o.metadata.uid, controller: true, blockOwnerDeletion: true };
}

/** What a pod needs to be built. */
export interface PodSpecInput {
  readonly namespace: string;
  readonly name: string;
  readonly node: string;
  readonly serviceAccount: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
  readonly owner: KubeOwnerReference | undefined;
  readonly containers: readonly {
    readonly name: string;
    readonly image: string;
    readonly ports?: readonly { readonly name: string; readonly containerPort: number }[];
  }[];
  readonly podIP: string;
  readonly startedAt: string;
}

/** A Running, Ready pod with the given containers (all started and ready). */
export function buildPod(p: PodSpecInput): NewKubeObject {
  const condition = (type: string): object => ({ type, status: 'True', lastProbeTime: null, lastTransitionTime: p.startedAt });
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: p.name,
      namespace: p.namespace,
      labels: { ...p.labels },
      annotations: { ...p.annotations },
      ...(p.owner === undefined ? {} : { ownerReferences: [p.owner] }),
    },
    spec: {
      serviceAccountName: p.serviceAccount,
      nodeName: p.node,
      restartPolicy: 'Always',
      schedulerName: 'default-scheduler',
      containers: p.containers.map((c) => ({
        name: c.name,
        image: c.image,
        imagePullPolicy: 'IfNotPresent',
        ...(c.ports === undefined ? {} : { ports: c.ports.map((port) => ({ ...port, protocol: 'TCP' })) }),
      })),
    },
    status: {
      phase: 'Running',
      hostIP: '192.168.0.1',
      podIP: p.podIP,
      podIPs: [{ ip: p.podIP }],
      startTime: p.startedAt,
      qosClass: 'BestEffort',
      conditions: ['Initialized', 'Ready', 'ContainersReady', 'PodScheduled'].map(condition),
      containerStatuses: p.containers.map((c) => ({
        name: c.name,
        image: c.image,
        imageID: '',
        ready: true,
        started: true,
        restartCount: 0,
        containerID: `containerd://${templateHash(p.name + c.name)}`,
        state: { running: { startedAt: p.startedAt } },
      })),
    },
  };
}

/** The two containers of a workload pod: the app and its Envoy sidecar (admin port named envoy-admin). */
export function workloadContainers(app: string): PodSpecInput['containers'] {
  return [
    { name: 'app', image: KUBE_SEED_IMAGES.app(app), ports: [{ name: 'http', containerPort: 8080 }] },
    {
      name: 'envoy',
      image: KUBE_SEED_IMAGES.envoy,
      ports: [
        { name: 'envoy-admin', containerPort: 9901 },
        { name: 'mtls', containerPort: 8443 },
      ],
    },
  ];
}

function podTemplate(labels: Record<string, string>, serviceAccount: string, containers: PodSpecInput['containers']): object {
  return { metadata: { labels }, spec: { serviceAccountName: serviceAccount, containers: containers.map((c) => ({ ...c })) } };
}

function controllerObject(
  kind: 'Deployment' | 'StatefulSet' | 'DaemonSet' | 'ReplicaSet',
  namespace: string,
  name: string,
  replicas: number,
  template: object,
  selector: Record<string, string>,
  owner?: KubeOwnerReference,
  extraLabels: Readonly<Record<string, string>> = {},
): NewKubeObject {
  const status =
    kind === 'DaemonSet'
      ? {
          currentNumberScheduled: replicas,
          desiredNumberScheduled: replicas,
          numberReady: replicas,
          updatedNumberScheduled: replicas,
          numberAvailable: replicas,
          observedGeneration: 1,
        }
      : {
          replicas,
          readyReplicas: replicas,
          availableReplicas: replicas,
          updatedReplicas: replicas,
          observedGeneration: 1,
          ...(kind === 'ReplicaSet' ? { fullyLabeledReplicas: replicas } : {}),
        };
  return {
    apiVersion: 'apps/v1',
    kind,
    metadata: {
      name,
      namespace,
      generation: 1,
      labels: { ...selector, ...extraLabels },
      ...(owner === undefined ? {} : { ownerReferences: [owner] }),
    },
    spec: { ...(kind === 'DaemonSet' ? {} : { replicas }), selector: { matchLabels: selector }, template },
    status,
  };
}

/**
 * Fills `store` from `spec`. Workloads sharing an owner share one controller (replicas = pod
 * count). Throws on a duplicate name, as the API server would (409).
 */
export function seedKubernetes(store: KubeStore, spec: KubeSeedSpec): KubeSeedResult {
  const startedAt = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
  const ips = new PodIpAllocator();
  const extra = spec.labels ?? {};
  spec.nodes.forEach((name, i) => {
    store.create('nodes', {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name, labels: { 'kubernetes.io/hostname': name, 'kubernetes.io/os': 'linux', ...extra } },
      spec: {},
      status: {
        conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'kubelet is posting ready status' }],
        addresses: [
          { type: 'InternalIP', address: `192.168.${(i >>> 8) & 255}.${(i & 255) + 1}` },
          { type: 'Hostname', address: name },
        ],
      },
    });
  });
  const namespaces = new Set(['default', 'kube-system', spec.spireNamespace, ...spec.workloads.map((w) => w.namespace)]);
  for (const name of [...namespaces].sort()) {
    store.create('namespaces', {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name, labels: { 'kubernetes.io/metadata.name': name, ...extra } },
      spec: { finalizers: ['kubernetes'] },
      status: { phase: 'Active' },
    });
  }
  store.create('configmaps', {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      name: BUNDLE_CONFIGMAP.name,
      namespace: spec.spireNamespace,
      ...(spec.labels === undefined ? {} : { labels: { ...extra } }),
    },
    data: { [BUNDLE_CONFIGMAP.key]: spec.bundlePem },
  });
  let controllers = 0;
  let pods = 0;
  if (spec.agents.length > 0) {
    const selector = { app: 'spire-agent' };
    const labels = { ...selector, ...extra };
    const containers = [{ name: 'spire-agent', image: KUBE_SEED_IMAGES.spireAgent }];
    const ds = store.create(
      'daemonsets',
      controllerObject(
        'DaemonSet',
        spec.spireNamespace,
        'spire-agent',
        spec.agents.length,
        podTemplate(labels, 'spire-agent', containers),
        selector,
        undefined,
        extra,
      ),
      'apps',
    );
    controllers += 1;
    for (const a of spec.agents) {
      store.create(
        'pods',
        buildPod({
          namespace: spec.spireNamespace,
          name: a.podName,
          node: a.node,
          serviceAccount: 'spire-agent',
          labels,
          annotations: a.annotations ?? {},
          owner: ownerRef(ds),
          containers,
          podIP: ips.allocate(),
          startedAt,
        }),
      );
      pods += 1;
    }
  }
  const groups = new Map<string, KubeSeedWorkload[]>();
  for (const w of spec.workloads) {
    const key = `${w.namespace}/${w.owner.kind}/${w.owner.name}`;
    const g = groups.get(key);
    if (g === undefined) groups.set(key, [w]);
    else g.push(w);
  }
  for (const members of groups.values()) {
    const first = members[0];
    if (first === undefined) continue;
    const { namespace, owner, serviceAccount } = first;
    const containers = workloadContainers(owner.name);
    const selector = { app: owner.name };
    const resource = owner.kind === 'Deployment' ? 'deployments' : owner.kind === 'StatefulSet' ? 'statefulsets' : 'daemonsets';
    const top = store.create(
      resource,
      controllerObject(
        owner.kind,
        namespace,
        owner.name,
        members.length,
        podTemplate({ ...selector, ...extra }, serviceAccount, containers),
        selector,
        undefined,
        extra,
      ),
      'apps',
    );
    controllers += 1;
    let podOwner = ownerRef(top);
    let labels: Record<string, string> = { ...selector, ...extra };
    if (owner.kind === 'Deployment') {
      const hash = templateHash(`${namespace}/${owner.name}`);
      const rsSelector = { ...selector, 'pod-template-hash': hash };
      labels = { ...rsSelector, ...extra };
      const rs = store.create(
        'replicasets',
        controllerObject(
          'ReplicaSet',
          namespace,
          `${owner.name}-${hash}`,
          members.length,
          podTemplate(labels, serviceAccount, containers),
          rsSelector,
          podOwner,
          extra,
        ),
        'apps',
      );
      podOwner = ownerRef(rs);
    }
    for (const w of members) {
      const annotations: Record<string, string> = { [SPIFFE_ID_ANNOTATION]: w.spiffeId };
      if (w.envoyAdminUrl !== undefined) annotations[ENVOY_ADMIN_URL_ANNOTATION] = w.envoyAdminUrl;
      store.create(
        'pods',
        buildPod({
          namespace,
          name: w.podName,
          node: w.node,
          serviceAccount: w.serviceAccount,
          labels,
          annotations,
          owner: podOwner,
          containers,
          podIP: ips.allocate(),
          startedAt,
        }),
      );
      pods += 1;
    }
  }
  return { nodes: spec.nodes.length, pods, controllers };
}
