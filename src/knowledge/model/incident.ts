import type { Observation } from './observation.js';

/** Every incident type analysis can open. */
export const INCIDENT_TYPES = ['rotation_failed', 'agent_disconnected', 'trust_bundle_drift', 'mtls_errors', 'cloudrun_revision_not_ready', 'flapping', 'fleet_storm'] as const;

export type IncidentType = (typeof INCIDENT_TYPES)[number];

/**
 * Detection status is owned by analyze: `open` while the symptom is present on fresh evidence,
 * `resolved` once fresh evidence shows it gone.
 */
export type IncidentStatus = 'open' | 'resolved';

/** Remediation progress is owned by plan; stored separately so the two stages never overwrite each other. */
export type RemediationPhase = 'pending' | 'remediating' | 'verifying' | 'needs_human' | 'done' | 'held';

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
}

/** Key under which at most one open incident per (type, subject) exists. */
export function incidentFingerprint(type: IncidentType, subject: string): string {
  return `${type}--${subject}`;
}

/** Incident ids are used in BullMQ job ids, so they avoid ':' and are never purely numeric. */
export function makeIncidentId(type: IncidentType, subject: string, openedAt: number): string {
  const slug = subject.replace(/[^A-Za-z0-9._-]+/g, '_');
  return `${type}--${slug}--${openedAt.toString(36)}`;
}
