import { observationStateKey, type Observation, type ServedCertificate } from './model/observation.js';
import { rotationStatus, type RotationPolicy } from './svid-rotation.js';

/**
 * Pure: is the change from `previous` to `next` news, i.e. worth an audit entry? The store records
 * every observation either way; this only decides what the audit log says (docs/architecture.md,
 * "Audit log: news, not state").
 *
 * A rotation inside its window is state, not news: a leaf SVID replaced by a newer one of the same
 * SPIFFE ID, seen while the previous leaf was neither overdue (per `policy`) nor expired, with the
 * rest of the chain, the CA set and the agent's node unchanged. Everything else that changes state
 * is news: a first observation, a probe failing, failing differently or recovering, a rotation seen
 * late (the previous leaf was already overdue: the rotation restored), a missing or expired leaf,
 * CA and bundle changes, agent, server, health, stats and Cloud Run state.
 */
export function isNews(previous: Observation | null, next: Observation, policy: RotationPolicy): boolean {
  if (previous === null) return true;
  if (observationStateKey(previous) === observationStateKey(next)) return false;
  const p = previous.data;
  const n = next.data;
  if (p.kind === 'envoy.certs' && n.kind === 'envoy.certs') {
    const [prevLeaf, ...prevRest] = p.chain;
    const [nextLeaf, ...nextRest] = n.chain;
    if (prevLeaf === undefined || nextLeaf === undefined) return true;
    if (!sameSerials(prevRest, nextRest) || !sameSerials(p.caCerts, n.caCerts)) return true;
    return !isRotationInWindow(prevLeaf, nextLeaf, next.observedAt, policy);
  }
  if (p.kind === 'spire.svid' && n.kind === 'spire.svid') {
    if (p.svid === null || n.svid === null || p.node !== n.node) return true;
    return !isRotationInWindow(p.svid, n.svid, next.observedAt, policy);
  }
  return true;
}

/** A newer leaf for the same SPIFFE ID, current at `at`, replacing one that was neither overdue nor expired at `at`. */
function isRotationInWindow(prev: ServedCertificate, next: ServedCertificate, at: number, policy: RotationPolicy): boolean {
  if (!sameList(prev.uriSans, next.uriSans)) return false;
  if (next.validFromMs < prev.validFromMs) return false;
  const was = rotationStatus(prev, at, policy);
  const now = rotationStatus(next, at, policy);
  return !was.overdue && !was.expired && !now.overdue && !now.expired;
}

function sameSerials(a: readonly { readonly serialNumber: string }[], b: readonly { readonly serialNumber: string }[]): boolean {
  return sameList(
    a.map((c) => c.serialNumber),
    b.map((c) => c.serialNumber),
  );
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/**
 * Pure: a rotation missed is news even though the state did not change. True when `next` shows the
 * same leaf as `previous` (Envoy's served leaf, or the agent's SVID) and that leaf, not overdue when
 * `previous` was observed, is overdue (or expired) when `next` is: the moment the SVID should have
 * rotated and did not. Later observations of the same overdue leaf are not news again.
 */
export function rotationMissed(previous: Observation | null, next: Observation, policy: RotationPolicy): boolean {
  if (previous === null) return false;
  const leafOf = (o: Observation): ServedCertificate | null =>
    o.data.kind === 'envoy.certs' ? (o.data.chain[0] ?? null) : o.data.kind === 'spire.svid' ? o.data.svid : null;
  const before = leafOf(previous);
  const after = leafOf(next);
  if (before === null || after === null || before.serialNumber !== after.serialNumber) return false;
  const was = rotationStatus(before, previous.observedAt, policy);
  const now = rotationStatus(after, next.observedAt, policy);
  return !was.overdue && !was.expired && (now.overdue || now.expired);
}
