import type { Observation } from './observation.js';

export type IncidentType = 'rotation_failed';

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
