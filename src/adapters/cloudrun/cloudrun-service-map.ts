import type { protos } from '@google-cloud/run';
import type {
  CloudRunCondition,
  CloudRunConditionState,
  CloudRunContainer,
  CloudRunSecretVolume,
  CloudRunService,
} from '../../ports/cloudrun.port.js';

type RawService = protos.google.cloud.run.v2.IService;
type RawCondition = protos.google.cloud.run.v2.ICondition;

/** Thrown by toCloudRunService for a payload that is not a valid Service; the client turns it into `malformed`. */
export class MalformedServiceError extends Error {
  override readonly name = 'MalformedServiceError';
}

const SERVICE_NAME = /^projects\/([^/]+)\/locations\/([^/]+)\/services\/([^/]+)$/;
const STATES: readonly CloudRunConditionState[] = [
  'STATE_UNSPECIFIED',
  'CONDITION_PENDING',
  'CONDITION_RECONCILING',
  'CONDITION_FAILED',
  'CONDITION_SUCCEEDED',
];
/** The zero value of each `reasons` oneof member: "no reason". */
const UNSET_REASONS = new Set(['COMMON_REASON_UNDEFINED', 'REVISION_REASON_UNDEFINED', 'EXECUTION_REASON_UNDEFINED', '0']);

/**
 * An int64 as a number. grpc unary responses carry int64 as decimal strings, LRO results as Long
 * objects, defaults as 0; anything that is not a safe non-negative integer is malformed.
 */
function int64(value: unknown, field: string): number {
  if (value === null || value === undefined) return 0;
  // eslint-disable-next-line @typescript-eslint/no-base-to-string -- a Long prints its decimal value
  const text = typeof value === 'object' || typeof value === 'string' || typeof value === 'number' ? String(value) : '';
  const n = Number(text);
  if (text === '' || !Number.isSafeInteger(n) || n < 0)
    throw new MalformedServiceError(`${field} is not a non-negative int64: ${JSON.stringify(text)}`);
  return n;
}

/** google.protobuf.Timestamp → epoch ms; null when absent. */
function timestampMs(ts: { seconds?: unknown; nanos?: number | null } | null | undefined, field: string): number | null {
  if (ts === null || ts === undefined) return null;
  return int64(ts.seconds, `${field}.seconds`) * 1000 + Math.floor((ts.nanos ?? 0) / 1_000_000);
}

function str(value: unknown, field: string): string {
  if (value === null || value === undefined) return '';
  if (typeof value !== 'string') throw new MalformedServiceError(`${field} is not a string`);
  return value;
}

function stringMap(value: unknown, field: string): Record<string, string> {
  if (value === null || value === undefined) return {};
  if (typeof value !== 'object') throw new MalformedServiceError(`${field} is not a map`);
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(value)) out[k] = str(v, `${field}[${k}]`);
  return out;
}

function stateName(value: unknown): CloudRunConditionState {
  if (typeof value === 'number') return STATES[value] ?? 'STATE_UNSPECIFIED';
  return STATES.find((s) => s === value) ?? 'STATE_UNSPECIFIED';
}

/** Whichever member of the `reasons` oneof is set, by name; '' when none. */
function reasonOf(c: RawCondition): string {
  const candidates = [c.reason, c.revisionReason, c.executionReason];
  for (const r of candidates) {
    if (r === null || r === undefined) continue;
    const name = String(r);
    if (!UNSET_REASONS.has(name)) return name;
  }
  return '';
}

function condition(c: RawCondition | null | undefined, field: string): CloudRunCondition | null {
  if (c === null || c === undefined) return null;
  return {
    type: str(c.type, `${field}.type`),
    state: stateName(c.state),
    message: str(c.message, `${field}.message`),
    reason: reasonOf(c),
    lastTransitionMs: timestampMs(c.lastTransitionTime, `${field}.lastTransitionTime`),
  };
}

/** One sentence per failed readiness criterion (see CloudRunService.notReady). */
export function notReadyReasons(
  s: Pick<
    CloudRunService,
    'reconciling' | 'generation' | 'observedGeneration' | 'latestCreatedRevision' | 'latestReadyRevision' | 'terminalCondition'
  >,
): string[] {
  const out: string[] = [];
  if (s.reconciling) out.push('a rollout is in progress (reconciling)');
  if (s.observedGeneration !== s.generation) out.push(`observedGeneration ${s.observedGeneration} lags generation ${s.generation}`);
  if (s.latestReadyRevision !== s.latestCreatedRevision) {
    out.push(`latestReadyRevision "${s.latestReadyRevision}" is not latestCreatedRevision "${s.latestCreatedRevision}"`);
  }
  const t = s.terminalCondition;
  if (t === null) out.push('no terminal condition');
  else if (t.state !== 'CONDITION_SUCCEEDED') {
    const why = [t.reason, t.message].filter((x) => x !== '').join(': ');
    out.push(`terminal condition ${t.type} is ${t.state}${why === '' ? '' : ` (${why})`}`);
  }
  return out;
}

/**
 * A google.cloud.run.v2.Service (as the gax client returns it) → CloudRunService. Throws
 * MalformedServiceError when it is not a valid Service: a name that is not
 * projects/<p>/locations/<l>/services/<s>, no template, or fields of the wrong shape.
 */
export function toCloudRunService(raw: RawService | null | undefined): CloudRunService {
  if (raw === null || raw === undefined) throw new MalformedServiceError('no Service in the response');
  const name = str(raw.name, 'name');
  const m = SERVICE_NAME.exec(name);
  if (m?.[1] === undefined || m[2] === undefined || m[3] === undefined) {
    throw new MalformedServiceError(
      name === '' ? 'Service has no name' : `Service name "${name}" is not projects/<p>/locations/<l>/services/<s>`,
    );
  }
  const template = raw.template;
  if (template === null || template === undefined) throw new MalformedServiceError(`Service ${name} has no template`);
  const containers: CloudRunContainer[] = (template.containers ?? []).map((c, i) => ({
    name: str(c.name, `template.containers[${i}].name`),
    image: str(c.image, `template.containers[${i}].image`),
  }));
  const secretVolumes: CloudRunSecretVolume[] = (template.volumes ?? []).flatMap((v, i) => {
    const src = v.secret;
    if (src === null || src === undefined) return [];
    return [
      {
        volume: str(v.name, `template.volumes[${i}].name`),
        secret: str(src.secret, `template.volumes[${i}].secret.secret`),
        items: (src.items ?? []).map((it, j) => ({
          path: str(it.path, `template.volumes[${i}].secret.items[${j}].path`),
          version: str(it.version, `template.volumes[${i}].secret.items[${j}].version`),
        })),
      },
    ];
  });
  const base = {
    generation: int64(raw.generation, 'generation'),
    observedGeneration: int64(raw.observedGeneration, 'observedGeneration'),
    reconciling: raw.reconciling === true,
    latestCreatedRevision: str(raw.latestCreatedRevision, 'latestCreatedRevision'),
    latestReadyRevision: str(raw.latestReadyRevision, 'latestReadyRevision'),
    terminalCondition: condition(raw.terminalCondition, 'terminalCondition'),
  };
  const notReady = notReadyReasons(base);
  return {
    name,
    project: m[1],
    location: m[2],
    serviceId: m[3],
    uid: str(raw.uid, 'uid'),
    uri: str(raw.uri, 'uri'),
    etag: str(raw.etag, 'etag'),
    ...base,
    conditions: (raw.conditions ?? []).map((c, i) => condition(c, `conditions[${i}]`)).filter((c) => c !== null),
    ready: notReady.length === 0,
    notReady,
    labels: stringMap(raw.labels, 'labels'),
    annotations: stringMap(raw.annotations, 'annotations'),
    templateAnnotations: stringMap(template.annotations, 'template.annotations'),
    containers,
    secretVolumes,
    updateTimeMs: timestampMs(raw.updateTime, 'updateTime'),
  };
}
