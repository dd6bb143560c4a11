import type { ServedCertificate } from './model/observation.js';

/** When an SVID counts as "should have rotated". SPIRE renews at half the lifetime. */
export interface RotationPolicy {
  /** Fraction of the lifetime after which the agent rotates (SPIRE: 0.5). */
  readonly rotateAtFraction: number;
  /** Extra time allowed for the rotation to reach Envoy before it counts as failed. */
  readonly graceMs: number;
}

/** Where a served certificate is in its life at `at`. */
export interface RotationStatus {
  readonly ttlMs: number;
  /** The time by which a new SVID should have been served. */
  readonly rotateByMs: number;
  readonly overdue: boolean;
  readonly expired: boolean;
}

/** Pure: is this served leaf past its rotation point (plus grace) at time `at`? */
export function rotationStatus(cert: ServedCertificate, at: number, policy: RotationPolicy): RotationStatus {
  const ttlMs = Math.max(0, cert.expiresAtMs - cert.validFromMs);
  const rotateByMs = cert.validFromMs + Math.floor(ttlMs * policy.rotateAtFraction) + policy.graceMs;
  return { ttlMs, rotateByMs, overdue: at > rotateByMs, expired: at >= cert.expiresAtMs };
}

/** Human-readable duration: 750ms, 8s, 4m30s, 1h0m. */
export function formatDuration(ms: number): string {
  if (ms < 1_000) return `${Math.round(ms)}ms`;
  const s = Math.round(ms / 1_000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${s % 60}s`;
  return `${Math.floor(m / 60)}h${m % 60}m`;
}

/** ISO-8601 time for explanations and reports. */
export function isoTime(ms: number): string {
  return new Date(ms).toISOString();
}
