/**
 * meta.k8s.io/v1 Table responses, which `kubectl get` asks for (Accept …;as=Table;…) to print
 * its default columns. Reduced: Name, a few kind-specific columns, Age.
 */
import type { KubeResourceType } from './k8s-resources.js';
import type { KubeObject } from './k8s-store.js';

interface Column {
  readonly name: string;
  readonly type: 'string' | 'integer';
  readonly cell: (o: KubeObject) => string | number;
}

/** True when the Accept header asks for a Table. */
export function wantsTable(accept: string | undefined): boolean {
  return accept !== undefined && /as=Table/.test(accept);
}

function age(o: KubeObject): string {
  const s = Math.max(0, Math.floor((Date.now() - Date.parse(o.metadata.creationTimestamp)) / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.floor(s / 60)}m`;
  if (s < 172_800) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86_400)}d`;
}

interface PodLike {
  readonly spec?: { readonly containers?: readonly unknown[] };
  readonly status?: {
    readonly phase?: string;
    readonly containerStatuses?: readonly { readonly ready?: boolean; readonly restartCount?: number }[];
  };
}

const POD_COLUMNS: readonly Column[] = [
  {
    name: 'Ready',
    type: 'string',
    cell: (o) => {
      const p = o as unknown as PodLike;
      const ready = (p.status?.containerStatuses ?? []).filter((c) => c.ready === true).length;
      return `${ready}/${p.spec?.containers?.length ?? 0}`;
    },
  },
  { name: 'Status', type: 'string', cell: (o) => (o as unknown as PodLike).status?.phase ?? 'Unknown' },
  {
    name: 'Restarts',
    type: 'integer',
    cell: (o) => ((o as unknown as PodLike).status?.containerStatuses ?? []).reduce((n, c) => n + (c.restartCount ?? 0), 0),
  },
];

const DATA_COLUMNS: readonly Column[] = [
  { name: 'Data', type: 'integer', cell: (o) => Object.keys((o.data as Record<string, unknown> | undefined) ?? {}).length },
];

interface EventLike {
  readonly type?: string;
  readonly reason?: string;
  readonly message?: string;
  readonly lastTimestamp?: string;
  readonly involvedObject?: { readonly kind?: string; readonly name?: string };
}

/** `kubectl get events` columns: LAST SEEN, TYPE, REASON, OBJECT, MESSAGE. */
const EVENT_COLUMNS: readonly Column[] = [
  {
    name: 'Last Seen',
    type: 'string',
    cell: (o) => {
      const e = o as unknown as EventLike;
      return age({ ...o, metadata: { ...o.metadata, creationTimestamp: e.lastTimestamp ?? o.metadata.creationTimestamp } });
    },
  },
  { name: 'Type', type: 'string', cell: (o) => (o as unknown as EventLike).type ?? '' },
  { name: 'Reason', type: 'string', cell: (o) => (o as unknown as EventLike).reason ?? '' },
  {
    name: 'Object',
    type: 'string',
    cell: (o) => {
      const ref = (o as unknown as EventLike).involvedObject;
      return `${(ref?.kind ?? '').toLowerCase()}/${ref?.name ?? ''}`;
    },
  },
  { name: 'Message', type: 'string', cell: (o) => (o as unknown as EventLike).message ?? '' },
];

/** A Table of `items` for `type`; each row carries the object's metadata as PartialObjectMetadata. */
export function renderTable(type: KubeResourceType, items: readonly KubeObject[], metadata: Record<string, unknown>): object {
  const extra = type.resource === 'pods' ? POD_COLUMNS : type.resource === 'configmaps' ? DATA_COLUMNS : [];
  const columns: Column[] =
    type.resource === 'events'
      ? [...EVENT_COLUMNS]
      : [{ name: 'Name', type: 'string', cell: (o) => o.metadata.name }, ...extra, { name: 'Age', type: 'string', cell: age }];
  return {
    kind: 'Table',
    apiVersion: 'meta.k8s.io/v1',
    metadata,
    columnDefinitions: columns.map((c) => ({
      name: c.name,
      type: c.type,
      format: c.name === 'Name' ? 'name' : '',
      description: '',
      priority: 0,
    })),
    rows: items.map((o) => ({
      cells: columns.map((c) => c.cell(o)),
      object: { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: o.metadata },
    })),
  };
}
