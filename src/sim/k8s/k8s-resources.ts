/** What the fake serves: each resource's group, version, kind and verbs, and the discovery documents. */

/** One served resource type. */
export interface KubeResourceType {
  /** Plural lower-case name, as in URLs: "pods". */
  readonly resource: string;
  readonly singular: string;
  readonly kind: string;
  /** "" for the core group. */
  readonly group: string;
  readonly version: string;
  readonly shortNames: readonly string[];
  readonly verbs: readonly string[];
  /** False for cluster-scoped kinds (nodes). */
  readonly namespaced: boolean;
  /** Field-selector keys beyond metadata.name / metadata.namespace, with how to read them. */
  readonly fields: Readonly<Record<string, (o: Readonly<Record<string, unknown>>) => string>>;
}

const READ = ['get', 'list', 'watch'];
const WRITE = ['create', 'update', 'patch'];

/** Reads a dotted path of nested objects as a string ('' when absent), as field selectors see it. */
function at(path: string): (o: Readonly<Record<string, unknown>>) => string {
  const segs = path.split('.');
  return (o) => {
    let cur: unknown = o;
    for (const s of segs) cur = typeof cur === 'object' && cur !== null ? (cur as Record<string, unknown>)[s] : undefined;
    return typeof cur === 'string' || typeof cur === 'number' || typeof cur === 'boolean' ? String(cur) : '';
  };
}

const POD_FIELDS = Object.fromEntries(
  [
    'spec.nodeName',
    'spec.serviceAccountName',
    'spec.restartPolicy',
    'spec.schedulerName',
    'status.phase',
    'status.podIP',
    'status.nominatedNodeName',
  ].map((f) => [f, at(f)]),
);

const EVENT_FIELDS = Object.fromEntries(
  [
    'involvedObject.kind',
    'involvedObject.name',
    'involvedObject.namespace',
    'involvedObject.uid',
    'involvedObject.apiVersion',
    'reason',
    'type',
    'source',
    'reportingComponent',
  ].map((f) => [f, f === 'source' ? at('source.component') : at(f)]),
);

/** Every resource the fake serves. */
export const KUBE_RESOURCES: readonly KubeResourceType[] = [
  {
    resource: 'pods',
    singular: 'pod',
    kind: 'Pod',
    group: '',
    version: 'v1',
    shortNames: ['po'],
    verbs: [...READ, ...WRITE, 'delete'],
    namespaced: true,
    fields: POD_FIELDS,
  },
  {
    resource: 'configmaps',
    singular: 'configmap',
    kind: 'ConfigMap',
    group: '',
    version: 'v1',
    shortNames: ['cm'],
    verbs: [...READ, ...WRITE, 'delete'],
    namespaced: true,
    fields: {},
  },
  {
    resource: 'events',
    singular: 'event',
    kind: 'Event',
    group: '',
    version: 'v1',
    shortNames: ['ev'],
    verbs: [...READ, ...WRITE, 'delete'],
    namespaced: true,
    fields: EVENT_FIELDS,
  },
  {
    resource: 'namespaces',
    singular: 'namespace',
    kind: 'Namespace',
    group: '',
    version: 'v1',
    shortNames: ['ns'],
    verbs: [...READ, 'create'],
    namespaced: false,
    fields: { 'status.phase': at('status.phase') },
  },
  {
    resource: 'nodes',
    singular: 'node',
    kind: 'Node',
    group: '',
    version: 'v1',
    shortNames: ['no'],
    verbs: [...READ, ...WRITE],
    namespaced: false,
    fields: { 'spec.unschedulable': at('spec.unschedulable') },
  },
  {
    resource: 'deployments',
    singular: 'deployment',
    kind: 'Deployment',
    group: 'apps',
    version: 'v1',
    shortNames: ['deploy'],
    verbs: [...READ, ...WRITE],
    namespaced: true,
    fields: {},
  },
  {
    resource: 'daemonsets',
    singular: 'daemonset',
    kind: 'DaemonSet',
    group: 'apps',
    version: 'v1',
    shortNames: ['ds'],
    verbs: [...READ, ...WRITE],
    namespaced: true,
    fields: {},
  },
  {
    resource: 'statefulsets',
    singular: 'statefulset',
    kind: 'StatefulSet',
    group: 'apps',
    version: 'v1',
    shortNames: ['sts'],
    verbs: [...READ, ...WRITE],
    namespaced: true,
    fields: {},
  },
  {
    resource: 'replicasets',
    singular: 'replicaset',
    kind: 'ReplicaSet',
    group: 'apps',
    version: 'v1',
    shortNames: ['rs'],
    verbs: [...READ, ...WRITE],
    namespaced: true,
    fields: { 'status.replicas': at('status.replicas') },
  },
];

/** The field-selector view of an object: metadata.name, metadata.namespace and the kind's extra fields. */
export function selectableFields(
  t: KubeResourceType,
  o: { readonly metadata: { readonly name: string; readonly namespace?: string } },
): Record<string, string> {
  const out: Record<string, string> = { 'metadata.name': o.metadata.name, 'metadata.namespace': o.metadata.namespace ?? '' };
  for (const [k, read] of Object.entries(t.fields)) out[k] = read(o);
  return out;
}

/** The resource type at group/version/resource, or undefined. */
export function findResource(group: string, version: string, resource: string): KubeResourceType | undefined {
  return KUBE_RESOURCES.find((r) => r.group === group && r.version === version && r.resource === resource);
}

/** "v1" or "apps/v1". */
export function apiVersionOf(t: KubeResourceType): string {
  return t.group === '' ? t.version : `${t.group}/${t.version}`;
}

/** GET /version. */
export const VERSION_INFO = {
  major: '1',
  minor: '31',
  gitVersion: 'v1.31.0-spire-healer-sim',
  gitCommit: '0000000000000000000000000000000000000000',
  gitTreeState: 'clean',
  buildDate: '2025-01-01T00:00:00Z',
  goVersion: 'go1.22.0',
  compiler: 'gc',
  platform: 'linux/amd64',
} as const;

/** GET /api (APIVersions). */
export function coreVersions(serverAddress: string): object {
  return { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress }] };
}

/** GET /apis (APIGroupList). */
export function groupList(): object {
  const groups = [...new Set(KUBE_RESOURCES.filter((r) => r.group !== '').map((r) => r.group))];
  return {
    kind: 'APIGroupList',
    apiVersion: 'v1',
    groups: groups.map((name) => {
      const gv = { groupVersion: `${name}/v1`, version: 'v1' };
      return { name, versions: [gv], preferredVersion: gv };
    }),
  };
}

/** GET /apis/<group> (APIGroup), or undefined for a group not served. */
export function apiGroup(group: string): object | undefined {
  if (!KUBE_RESOURCES.some((r) => r.group === group && group !== '')) return undefined;
  const gv = { groupVersion: `${group}/v1`, version: 'v1' };
  return { kind: 'APIGroup', apiVersion: 'v1', name: group, versions: [gv], preferredVersion: gv };
}

/** GET /api/v1 or /apis/<group>/<version> (APIResourceList), or undefined for a version not served. */
export function resourceList(group: string, version: string): object | undefined {
  const rs = KUBE_RESOURCES.filter((r) => r.group === group && r.version === version);
  if (rs.length === 0) return undefined;
  return {
    kind: 'APIResourceList',
    apiVersion: 'v1',
    groupVersion: group === '' ? version : `${group}/${version}`,
    resources: rs.map((r) => ({
      name: r.resource,
      singularName: r.singular,
      namespaced: r.namespaced,
      kind: r.kind,
      verbs: r.verbs,
      shortNames: r.shortNames,
    })),
  };
}
