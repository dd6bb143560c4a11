import { createHash } from 'node:crypto';
import { timestampOf, type ConditionMessage, type ConditionState, type RevisionReason, type ServiceMessage } from './cloudrun-messages.js';

/** Hex sha256 of the parts joined by NUL (deterministic ids, etags, suffixes). */
export function digest(...parts: readonly (string | number)[]): string {
  return createHash('sha256').update(parts.join('\u0000')).digest('hex');
}

/** Revision `n` of a service: "<service>-000NN-xyz", the suffix derived from the name and n. */
export function revisionId(service: string, n: number): string {
  const h = digest(service, n);
  const suffix = Array.from({ length: 3 }, (_, i) => String.fromCharCode(97 + (parseInt(h.slice(i * 2, i * 2 + 2), 16) % 26))).join('');
  return `${service}-${String(n).padStart(5, '0')}-${suffix}`;
}

/** JSON with object keys sorted, so that map fields compare equal regardless of order. */
export function stableJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (v === null || typeof v !== 'object' || Array.isArray(v) || Buffer.isBuffer(v)) return v;
    return Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  });
}

/** Which member of the Condition `reasons` oneof to set, if any. */
type ConditionReason = { readonly reason: 'REVISION_FAILED' } | { readonly revisionReason: RevisionReason } | null;

function condition(type: string, state: ConditionState, at: number, message = '', why: ConditionReason = null): ConditionMessage {
  const c: ConditionMessage = {
    type,
    state,
    message,
    lastTransitionTime: timestampOf(at),
    severity: why === null ? 'SEVERITY_UNSPECIFIED' : 'ERROR',
  };
  if (why !== null) Object.assign(c, why);
  return c;
}

/** The short id of a revision resource name (…/revisions/<id>). */
export function shortRevision(revision: string): string {
  return revision.slice(revision.lastIndexOf('/') + 1);
}

/** Output fields of a service whose revision `revision` is ready and serving 100% (LATEST). */
export function markReady(svc: ServiceMessage, generation: number, revision: string, at: number): void {
  svc.observedGeneration = String(generation);
  svc.reconciling = false;
  svc.latestCreatedRevision = revision;
  svc.latestReadyRevision = revision;
  svc.terminalCondition = condition('Ready', 'CONDITION_SUCCEEDED', at);
  svc.conditions = [condition('RoutesReady', 'CONDITION_SUCCEEDED', at), condition('ConfigurationsReady', 'CONDITION_SUCCEEDED', at)];
  svc.trafficStatuses = [{ type: 'TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST', revision: shortRevision(revision), percent: 100 }];
}

/** Output fields while generation `generation` (revision `revision`) is being rolled out. */
export function markReconciling(svc: ServiceMessage, generation: number, revision: string, at: number): void {
  svc.generation = String(generation);
  svc.reconciling = true;
  svc.latestCreatedRevision = revision;
  svc.terminalCondition = condition('Ready', 'CONDITION_RECONCILING', at);
  svc.conditions = [condition('RoutesReady', 'CONDITION_RECONCILING', at), condition('ConfigurationsReady', 'CONDITION_RECONCILING', at)];
}

/**
 * Output fields once revision `revision` failed: the terminal condition is Ready=CONDITION_FAILED
 * (reason REVISION_FAILED), ConfigurationsReady carries `reason` as its revision_reason, and
 * latestReadyRevision (so traffic) stays on the previous ready revision. Returns the message.
 */
export function markFailed(
  svc: ServiceMessage,
  generation: number,
  revision: string,
  message: string,
  reason: RevisionReason,
  at: number,
): string {
  const text = `Revision '${shortRevision(revision)}' is not ready and cannot serve traffic. ${message}`;
  svc.observedGeneration = String(generation);
  svc.reconciling = false;
  svc.terminalCondition = condition('Ready', 'CONDITION_FAILED', at, text, { reason: 'REVISION_FAILED' });
  svc.conditions = [
    condition('RoutesReady', 'CONDITION_SUCCEEDED', at),
    condition('ConfigurationsReady', 'CONDITION_FAILED', at, text, { revisionReason: reason }),
  ];
  return text;
}

/** The status fields markReady/markFailed/markNotReady write (what clearing a not-ready fault restores). */
export const STATUS_FIELDS = [
  'observedGeneration',
  'reconciling',
  'latestCreatedRevision',
  'latestReadyRevision',
  'terminalCondition',
  'conditions',
  'trafficStatuses',
] as const;

/**
 * Output fields when the serving revision stops being ready after it was (crash loop, failing
 * health checks): Ready=CONDITION_FAILED naming the revision; the revision fields are unchanged.
 */
export function markNotReady(svc: ServiceMessage, message: string, reason: RevisionReason, at: number): void {
  const text = `Revision '${shortRevision(svc.latestReadyRevision ?? '')}' is not ready and cannot serve traffic. ${message}`;
  svc.reconciling = false;
  svc.terminalCondition = condition('Ready', 'CONDITION_FAILED', at, text, { reason: 'REVISION_FAILED' });
  svc.conditions = [
    condition('RoutesReady', 'CONDITION_FAILED', at, text, { revisionReason: reason }),
    condition('ConfigurationsReady', 'CONDITION_FAILED', at, text, { revisionReason: reason }),
  ];
}

/** Sets updateTime and a fresh etag (derived from name, generation and state). */
export function touch(svc: ServiceMessage, at: number): void {
  svc.updateTime = timestampOf(at);
  svc.etag = `"${digest(svc.name, svc.generation ?? '', svc.observedGeneration ?? '', stableJson(svc.terminalCondition), at).slice(0, 24)}"`;
}
