import { randomUUID } from 'node:crypto';
import { conflict, notFound, KubeStatusError, kubeStatus } from './k8s-status.js';

/** metadata.ownerReferences[] item. */
export interface KubeOwnerReference {
  readonly apiVersion: string;
  readonly kind: string;
  readonly name: string;
  readonly uid: string;
  readonly controller?: boolean;
  readonly blockOwnerDeletion?: boolean;
}

/** ObjectMeta, reduced to the fields the fake maintains. */
export interface KubeObjectMeta {
  name: string;
  generateName?: string;
  namespace?: string;
  uid: string;
  resourceVersion: string;
  generation?: number;
  creationTimestamp: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: KubeOwnerReference[];
}

/** Any stored object: kind, apiVersion, metadata and whatever else the kind has. */
export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: KubeObjectMeta;
  [field: string]: unknown;
}

/** One change, as a watch delivers it. `previous` is the state before a MODIFIED. */
export interface KubeChange {
  readonly rv: number;
  readonly resource: string;
  readonly type: 'ADDED' | 'MODIFIED' | 'DELETED';
  readonly object: KubeObject;
  readonly previous?: KubeObject;
}

/** Options of the store. */
export interface KubeStoreOptions {
  /** Changes kept for watches that resume from a resourceVersion (older → 410 Expired). Default 10,000. */
  readonly retainedChanges?: number;
  /** Clock for creationTimestamp. Default Date.now. */
  readonly now?: () => number;
}

/** What a new object needs; uid, resourceVersion and creationTimestamp are filled in. */
export interface NewKubeObject {
  apiVersion: string;
  kind: string;
  metadata: Omit<KubeObjectMeta, 'uid' | 'resourceVersion' | 'creationTimestamp'> & {
    uid?: string;
    resourceVersion?: string;
    creationTimestamp?: string;
  };
  [field: string]: unknown;
}

const keyOf = (namespace: string | undefined, name: string): string => `${namespace ?? ''}/${name}`;
const byKey = ([a]: [string, unknown], [b]: [string, unknown]): number => (a < b ? -1 : a > b ? 1 : 0);

/**
 * The fake API server's etcd: objects per resource ("pods", "deployments"…) keyed by
 * namespace/name, one cluster-wide resourceVersion counter that grows on every write, and a
 * bounded log of changes for watches. Public reads and writes copy, so callers never share
 * state; stored objects are never mutated in place (a write stores a new object), which lets
 * the change log and `peek` hand out references cheaply.
 */
export class KubeStore {
  private readonly objects = new Map<string, Map<string, KubeObject>>();
  private changes: KubeChange[] = [];
  private readonly listeners = new Set<(c: KubeChange) => void>();
  private rv = 1000;
  /** Oldest resourceVersion a watch may resume from (changes after it are all retained). */
  private horizon = 1000;
  private readonly retained: number;
  private readonly now: () => number;

  /** An empty cluster. */
  constructor(options: KubeStoreOptions = {}) {
    this.retained = Math.max(1, options.retainedChanges ?? 10_000);
    this.now = options.now ?? Date.now;
  }

  /** The latest resourceVersion (what a List reports). */
  get resourceVersion(): number {
    return this.rv;
  }

  /** The oldest resourceVersion a watch can still resume from. */
  get oldestResumable(): number {
    return this.horizon;
  }

  /** Forgets every retained change, so any watch resuming from an older resourceVersion gets 410. */
  compact(): void {
    this.changes = [];
    this.horizon = this.rv;
  }

  /** A copy of one object, or undefined. */
  get(resource: string, namespace: string | undefined, name: string): KubeObject | undefined {
    const o = this.objects.get(resource)?.get(keyOf(namespace, name));
    return o === undefined ? undefined : structuredClone(o);
  }

  /** Copies of the objects of a resource (one namespace, or all), ordered by namespace/name. */
  list(resource: string, namespace?: string): KubeObject[] {
    return this.peek(resource, namespace).map((o) => structuredClone(o));
  }

  /**
   * The stored objects themselves (no copy), ordered by namespace/name: for serialising
   * large lists fast. Callers MUST NOT mutate them.
   */
  peek(resource: string, namespace?: string): readonly KubeObject[] {
    const all = [...(this.objects.get(resource)?.entries() ?? [])].sort(byKey).map(([, o]) => o);
    return namespace === undefined ? all : all.filter((o) => o.metadata.namespace === namespace);
  }

  /** Number of objects of a resource. */
  count(resource: string): number {
    return this.objects.get(resource)?.size ?? 0;
  }

  /**
   * Creates an object (409 AlreadyExists when the name is taken; `generateName` + random suffix
   * when the name is empty). Returns the stored copy.
   */
  create(resource: string, input: NewKubeObject, group = ''): KubeObject {
    const { namespace, generateName } = input.metadata;
    let name = input.metadata.name;
    const bucket = this.bucket(resource);
    if (name === '' && generateName !== undefined) {
      do name = `${generateName}${randomUUID().slice(0, 5)}`;
      while (bucket.has(keyOf(namespace, name)));
    }
    if (name === '')
      throw new KubeStatusError(
        kubeStatus(422, 'Invalid', `${resource} "" is invalid: metadata.name: Required value: name or generateName is required`),
      );
    if (bucket.has(keyOf(namespace, name))) {
      const what = group === '' ? resource : `${resource}.${group}`;
      throw new KubeStatusError(
        kubeStatus(409, 'AlreadyExists', `${what} "${name}" already exists`, { name, ...(group === '' ? {} : { group }), kind: resource }),
      );
    }
    const object = structuredClone(input) as KubeObject;
    object.metadata.name = name;
    object.metadata.uid = input.metadata.uid ?? randomUUID();
    object.metadata.resourceVersion = String(++this.rv);
    object.metadata.creationTimestamp = new Date(Math.floor(this.now() / 1000) * 1000).toISOString().replace('.000Z', 'Z');
    bucket.set(keyOf(namespace, name), object);
    this.record({ rv: this.rv, resource, type: 'ADDED', object });
    return structuredClone(object);
  }

  /**
   * Replaces an object with `next` (name, namespace, uid, creationTimestamp and generation
   * kept; generation +1 when `spec` changed on an object that has one). When `expectedRv` is
   * given and differs from the stored one → 409 Conflict. A no-op write keeps the
   * resourceVersion and emits nothing, as the API server does.
   */
  update(resource: string, next: KubeObject, expectedRv?: string, group = ''): KubeObject {
    const { namespace, name } = next.metadata;
    const current = this.objects.get(resource)?.get(keyOf(namespace, name));
    if (current === undefined) throw notFound(resource, name, group);
    if (expectedRv !== undefined && expectedRv !== '' && expectedRv !== current.metadata.resourceVersion)
      throw conflict(resource, name, group);
    const merged = structuredClone(next);
    const meta = current.metadata;
    merged.metadata = {
      ...merged.metadata,
      name,
      uid: meta.uid,
      creationTimestamp: meta.creationTimestamp,
      resourceVersion: meta.resourceVersion,
    };
    if (namespace !== undefined) merged.metadata.namespace = namespace;
    if (meta.generation === undefined) delete merged.metadata.generation;
    else merged.metadata.generation = meta.generation;
    if (JSON.stringify(merged) === JSON.stringify(current)) return structuredClone(current);
    if (meta.generation !== undefined && JSON.stringify(merged.spec) !== JSON.stringify(current.spec))
      merged.metadata.generation = meta.generation + 1;
    merged.metadata.resourceVersion = String(++this.rv);
    this.bucket(resource).set(keyOf(namespace, name), merged);
    this.record({ rv: this.rv, resource, type: 'MODIFIED', object: merged, previous: current });
    return structuredClone(merged);
  }

  /** Creates the object, or replaces it (ignoring resourceVersion) when it exists. Returns the stored copy. */
  apply(resource: string, object: NewKubeObject, group = ''): KubeObject {
    const { namespace, name } = object.metadata;
    const current = this.objects.get(resource)?.get(keyOf(namespace, name));
    if (current === undefined) return this.create(resource, object, group);
    return this.update(resource, { ...object, metadata: { ...current.metadata, ...object.metadata } }, undefined, group);
  }

  /** Deletes an object (404 when absent). Returns the last state, carrying the deletion's resourceVersion. */
  delete(resource: string, namespace: string | undefined, name: string, group = ''): KubeObject {
    const bucket = this.bucket(resource);
    const current = bucket.get(keyOf(namespace, name));
    if (current === undefined) throw notFound(resource, name, group);
    bucket.delete(keyOf(namespace, name));
    const last: KubeObject = { ...current, metadata: { ...current.metadata, resourceVersion: String(++this.rv) } };
    this.record({ rv: this.rv, resource, type: 'DELETED', object: last });
    return structuredClone(last);
  }

  /**
   * Changes of a resource after `rv` (shared references: do not mutate), or 'expired' when some
   * of them were already forgotten (the caller answers 410 Gone).
   */
  changesSince(resource: string, rv: number): readonly KubeChange[] | 'expired' {
    if (rv < this.horizon) return 'expired';
    return this.changes.filter((c) => c.resource === resource && c.rv > rv);
  }

  /**
   * Calls `listener` synchronously with every change from now on (shared objects: do not
   * mutate); returns the unsubscribe function. A throwing listener does not stop the others.
   */
  subscribe(listener: (c: KubeChange) => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  private bucket(resource: string): Map<string, KubeObject> {
    let b = this.objects.get(resource);
    if (b === undefined) {
      b = new Map();
      this.objects.set(resource, b);
    }
    return b;
  }

  private record(change: KubeChange): void {
    this.changes.push(change);
    // Trim in batches: shifting one element at a time is O(n) per write.
    if (this.changes.length > this.retained + Math.ceil(this.retained / 4)) {
      const dropped = this.changes.splice(0, this.changes.length - this.retained);
      this.horizon = dropped[dropped.length - 1]?.rv ?? this.horizon;
    }
    for (const l of [...this.listeners]) {
      try {
        l(change);
      } catch {
        // A broken subscriber must not corrupt the store's write path.
      }
    }
  }
}
