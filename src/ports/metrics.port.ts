import type { ObservationSource } from '../knowledge/model/observation.js';

/** What the daemon reports to its metrics backend. Label values are bounded sets (no ids). */
export interface DaemonMetrics {
  observation(source: ObservationSource, outcome: 'ok' | 'error', changed: boolean): void;
  sweepDuration(stage: string, seconds: number): void;
  incidentsOpened(type: string, n: number): void;
  incidentsResolved(type: string, n: number): void;
  setOpenIncidents(n: number): void;
  actionFinished(action: string, outcome: 'succeeded' | 'failed' | 'skipped', performed: boolean): void;
  stageState(stage: string, state: string): void;
  setPaused(paused: boolean): void;
  /** Plans by phase after a plan pass (pending, held, awaiting_approval, remediating, verifying, needs_human). */
  setPlanPhases(counts: Readonly<Record<string, number>>): void;
  /** Plans held back, by the guardrail holding them, after a plan pass. */
  setPlansHeld(counts: Readonly<Record<string, number>>): void;
  /** Text exposition for /metrics and its content type. */
  render(): Promise<{ readonly contentType: string; readonly body: string }>;
}
