import type { ActionName, ActionParams } from '../../knowledge/model/action-run.js';
import type { IncidentCause, IncidentType } from '../../knowledge/model/incident.js';
import type { Platform } from '../../knowledge/model/workload.js';

/**
 * auto: act. approve: each step waits for `spire-healer approve INCIDENT` (bound to the plan's
 * hash, with a TTL). shadow: decide, gate and audit exactly as auto (budgets included), but the
 * job records the action instead of performing it.
 */
export type PlaybookMode = 'auto' | 'approve' | 'shadow';

/**
 * Typed post-conditions a step can verify against observations newer than its job:
 * - incident_resolved: analysis reports the incident recovering or resolved;
 * - envoy_new_serial: the subject's Envoy serves a leaf serial other than before the step, inside its rotation window;
 * - agent_sync_fresh: the subject's agent last synced with the server after the job finished;
 * - bundle_fingerprints_equal: the subject's CA set (ConfigMap, agent or Envoy) equals the server bundle;
 * - cloudrun_ready: the Cloud Run service reports its latest revision ready.
 */
export const POST_CONDITIONS = [
  'incident_resolved',
  'envoy_new_serial',
  'agent_sync_fresh',
  'bundle_fingerprints_equal',
  'cloudrun_ready',
] as const;
export type PostCondition = (typeof POST_CONDITIONS)[number];

/** Preconditions of a step: every given field must hold, else the step is skipped (audited) and the ladder moves on. */
export interface StepPreconditions {
  /** The incident's diagnosed cause is one of these. */
  readonly causes?: readonly IncidentCause[];
  /** The subject runs on one of these platforms (agents and ConfigMaps count as kubernetes). */
  readonly platforms?: readonly Platform[];
  /** The SPIRE server says the subject's agent may re-attest (not banned, can_reattest). */
  readonly agentCanReattest?: boolean;
  /** The subject's agent is healthy (fresh sync, /ready ok) or not. */
  readonly agentHealthy?: boolean;
}

/** One rung of the escalation ladder. */
export interface PlaybookStep {
  readonly action: ActionName;
  readonly params: ActionParams;
  readonly when: StepPreconditions;
  /** How long the job may take before the attempt counts as failed. */
  readonly jobTimeoutMs: number;
  readonly verify: { readonly expect: PostCondition; readonly timeoutMs: number };
  /** Attempts of this step before moving to the next one (>= 1). */
  readonly attempts: number;
  /** Delay before the second attempt, doubled for each further one (capped by the time left before expiry). */
  readonly backoffMs: number;
}

/** Blast-radius limit: an absolute count or a share of the group. */
export type Limit = { readonly count: number } | { readonly percent: number };

/** A recurring or absolute period in which nothing new starts. */
export type FreezePeriod =
  | { readonly reason: string; readonly from: number; readonly to: number }
  | {
      readonly reason: string;
      readonly weekly: { readonly days: readonly number[]; readonly startMinute: number; readonly endMinute: number };
    };

/** Guardrails of one playbook; state (ledger, approvals) lives in Redis, shared by replicas. */
export interface Guardrails {
  /** After an action on a subject, no action from another incident on the same subject for this long. */
  readonly cooldownMs: number;
  /**
   * When the cooldown would hold a step past the affected certificate's expiry (less the time the
   * rest of the ladder needs), the step runs anyway instead of being held and escalated.
   */
  readonly cooldownYieldsToExpiry: boolean;
  readonly maxActionsPerPlaybook: { readonly count: number; readonly windowMs: number } | null;
  readonly maxActionsPerSubject: { readonly count: number; readonly windowMs: number } | null;
  /** Steps of this playbook executing or verifying at once (escalated plans keep their slot until resolved). */
  readonly maxConcurrent: number | null;
  /** In-flight actions per service (owner) and per node, counting escalated ones. */
  readonly blastRadius: { readonly perService: Limit | null; readonly perNode: Limit | null };
  /** After a fleet storm resolves, hold this long before acting again. */
  readonly stormCooldownMs: number;
  readonly freeze: readonly FreezePeriod[];
  /** How long an approval stays valid (approve mode). */
  readonly approvalTtlMs: number;
}

/** Which incidents a playbook handles: every given field must match. */
export interface PlaybookMatch {
  readonly types: readonly IncidentType[];
  readonly trustDomains?: readonly string[];
  /** Globs over SPIFFE IDs: `*` within one path segment, `**` across segments. */
  readonly spiffeIds?: readonly string[];
  /** Kubernetes namespace or Cloud Run project/region of the subject. */
  readonly namespaces?: readonly string[];
  readonly platforms?: readonly Platform[];
  /** Workload labels that must all be present with these values. */
  readonly labels?: Readonly<Record<string, string>>;
}

/** A validated playbook. */
export interface Playbook {
  readonly name: string;
  /** File the playbook came from, or "<built-in>". */
  readonly origin: string;
  readonly mode: PlaybookMode;
  readonly match: PlaybookMatch;
  readonly steps: readonly PlaybookStep[];
  readonly escalate: { readonly webhook: string | null; readonly timeoutMs: number };
  readonly guardrails: Guardrails;
}

/** Guardrails when a playbook gives none: generous but never unbounded. */
export const defaultGuardrails: Guardrails = {
  cooldownMs: 5 * 60_000,
  cooldownYieldsToExpiry: false,
  maxActionsPerPlaybook: { count: 50, windowMs: 60 * 60_000 },
  maxActionsPerSubject: { count: 6, windowMs: 60 * 60_000 },
  maxConcurrent: 10,
  blastRadius: { perService: { percent: 50 }, perNode: { percent: 50 } },
  stormCooldownMs: 2 * 60_000,
  freeze: [],
  approvalTtlMs: 15 * 60_000,
};
