import type { ActionName } from '../../knowledge/model/action-run.js';
import type { IncidentType } from '../../knowledge/model/incident.js';

/** auto: act; shadow: decide and audit exactly as auto, but record actions instead of performing them. */
export type PlaybookMode = 'auto' | 'shadow';

/** One rung of the escalation ladder. */
export interface PlaybookStep {
  readonly action: ActionName;
  /** How long the job may take before the step counts as failed. */
  readonly jobTimeoutMs: number;
  /** After the action succeeded: how long to wait for the incident to resolve before escalating. */
  readonly verifyTimeoutMs: number;
}

/** A validated playbook: which incidents it handles and the ladder of steps. */
export interface Playbook {
  readonly name: string;
  /** File the playbook came from, or "<built-in>". */
  readonly origin: string;
  readonly mode: PlaybookMode;
  readonly match: { readonly types: readonly IncidentType[] };
  readonly steps: readonly PlaybookStep[];
}

/** The playbook used when none is configured: rotation failed at Envoy -> restart that Envoy. */
export const builtInPlaybooks: readonly Playbook[] = [
  {
    name: 'envoy-rotation-failed',
    origin: '<built-in>',
    mode: 'auto',
    match: { types: ['rotation_failed'] },
    steps: [{ action: 'restart_envoy', jobTimeoutMs: 15_000, verifyTimeoutMs: 20_000 }],
  },
];

/** First playbook whose match covers the incident type, or undefined. Order is the load order. */
export function selectPlaybook(playbooks: readonly Playbook[], type: IncidentType): Playbook | undefined {
  return playbooks.find((p) => p.match.types.includes(type));
}
