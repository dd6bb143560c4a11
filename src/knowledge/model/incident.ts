import type { Observation } from './observation.js';

/** Every incident type analysis can open. */
export const INCIDENT_TYPES = [
  'rotation_failed',
  'agent_disconnected',
  'trust_bundle_drift',
  'mtls_errors',
  'cloudrun_revision_not_ready',
  'flapping',
  'fleet_storm',
] as const;

export type IncidentType = (typeof INCIDENT_TYPES)[number];

/**
 * Diagnosed causes: what analysis concluded is broken, so that plan can choose the first step
 * (a playbook step's `when.causes`). One incident has at most one cause.
 */
export const INCIDENT_CAUSES = [
  // rotation_failed
  'envoy_sds_stuck',
  'envoy_update_rejected',
  'agent_not_rotating',
  // agent_disconnected
  'agent_unreachable',
  'agent_sync_stale',
  'agent_svid_expired',
  'agent_cannot_reattest',
  'agent_not_ready',
  'agent_sds_failing',
  // trust_bundle_drift
  'configmap_bundle_stale',
  'secret_bundle_stale',
  'agent_bundle_stale',
  'envoy_bundle_stale',
  'trust_domain_bundle_stale',
  // mtls_errors
  'no_certificate',
  'handshake_failures',
  // cloudrun_revision_not_ready, flapping, fleet_storm
  'revision_not_ready',
  'symptom_flapping',
  'server_unreachable',
  'widespread_failure',
] as const;

export type IncidentCause = (typeof INCIDENT_CAUSES)[number];

/**
 * Detection status is owned by analyze: `open` while the symptom is present on fresh evidence,
 * `resolved` once fresh evidence shows it gone.
 */
export type IncidentStatus = 'open' | 'resolved';

/** Remediation progress is owned by plan; stored separately so the two stages never overwrite each other. */
export type RemediationPhase = 'pending' | 'remediating' | 'verifying' | 'needs_human' | 'done' | 'held' | 'awaiting_approval';

export interface IncidentTransition {
  readonly at: number;
  readonly from: string;
  readonly to: string;
  readonly reason: string;
}

export interface Incident {
  /** Deterministic: "<type>--<subject slug>--<openedAt>" so a re-open after resolution is a new incident. */
  readonly id: string;
  readonly type: IncidentType;
  readonly subject: string;
  readonly status: IncidentStatus;
  readonly openedAt: number;
  readonly resolvedAt: number | null;
  readonly explanation: string;
  readonly evidence: readonly Observation[];
  readonly history: readonly IncidentTransition[];
  /** Subjects whose own symptoms this incident explains (e.g. the workloads behind a broken agent). */
  readonly affects?: readonly string[];
  /** Set while fresh evidence shows recovery but the healthy delay has not passed (hysteresis). */
  readonly recoveringSince?: number | null;
  /** The incident that explains this one (a fleet_storm over its children), when known at opening. */
  readonly parent?: string;
  /** What analysis diagnosed as the cause (set at opening, refreshed with the evidence). */
  readonly cause?: IncidentCause;
  /** For `flapping`: the symptom type that keeps coming back on the subject. */
  readonly flappingType?: IncidentType;
}

/** What plan records about an incident's remediation. */
export interface IncidentRemediation {
  readonly phase: RemediationPhase;
  readonly playbook: string;
  readonly step: number;
  readonly action: string | null;
  readonly updatedAt: number;
  readonly reason: string;
  /** While awaiting approval: the hash of the plan step `spire-healer approve` must cover. */
  readonly planHash?: string;
  /** While a guardrail holds the step past the affected certificate's expiry: when it expires (escalated once). */
  readonly expiresWhileHeldAt?: number;
}

/** Subject of the one systemic incident (fleet_storm); defined with the other subject forms in subject-ref.ts. */
export { FLEET_SUBJECT } from '../subject-ref.js';

/** Key under which at most one open incident per (type, subject) exists. */
export function incidentFingerprint(type: IncidentType, subject: string): string {
  return `${type}--${subject}`;
}

/** Incident ids are used in BullMQ job ids, so they avoid ':' and are never purely numeric. */
export function makeIncidentId(type: IncidentType, subject: string, openedAt: number): string {
  const slug = subject.replace(/[^A-Za-z0-9._-]+/g, '_');
  return `${type}--${slug}--${openedAt.toString(36)}`;
}
