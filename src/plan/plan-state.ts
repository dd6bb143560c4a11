import { initialTransition } from 'xstate';
import type { PlanSnapshotRecord } from '../knowledge/knowledge-store.js';
import type { Incident } from '../knowledge/model/incident.js';
import { incidentPlanMachine, type IncidentPlanContext, type IncidentPlanSnapshot } from './incident-plan.machine.js';
import { selectPlaybook } from './playbooks/match-playbook.js';
import { defaultGuardrails, type Playbook } from './playbooks/playbook.js';
import type { SubjectFacts } from './subject-facts.js';

/** Bump when IncidentPlanSnapshot changes shape; older snapshots are then restarted from scratch. */
export const PLAN_SNAPSHOT_VERSION = 2;

/** Plan machine state as restored from a snapshot. */
export type PlanMachineState = ReturnType<typeof initialTransition<typeof incidentPlanMachine>>[0];

/** States in which a plan holds a concurrency / blast-radius slot. */
export const IN_FLIGHT_STATES: ReadonlySet<string> = new Set(['executing', 'verifying', 'verified', 'escalated']);
/** States in which a plan waits for its step's gate. */
export const WAITING_STATES: ReadonlySet<string> = new Set(['ready', 'held', 'awaitingApproval']);

/** The machine state of a saved record, or null when there is none or it has an older shape. */
export function restorePlan(rec: PlanSnapshotRecord | null): PlanMachineState | null {
  if (rec?.version !== PLAN_SNAPSHOT_VERSION) return null;
  const snap = rec.snapshot as IncidentPlanSnapshot;
  return incidentPlanMachine.resolveState({ value: snap.value, context: snap.context });
}

/** The machine state as it is saved. */
export function persistable(state: PlanMachineState): IncidentPlanSnapshot {
  return { value: typeof state.value === 'string' ? state.value : JSON.stringify(state.value), context: state.context };
}

/** The plan machine's first state for an incident and its playbook. */
export function initialPlanState(incident: Incident, playbook: Playbook, facts: SubjectFacts): PlanMachineState {
  return initialTransition(incidentPlanMachine, {
    incidentId: incident.id,
    subject: incident.subject,
    playbook: playbook.name,
    mode: playbook.mode,
    steps: playbook.steps,
    group: { service: facts.service, node: facts.node },
  })[0];
}

/**
 * The playbook whose guardrails gate a plan: the loaded playbook of its name; for a plan whose
 * playbook was removed, its own steps and mode under the default guardrails; for an incident
 * without a plan, the playbook selected for it (undefined: none matches).
 */
export function playbookOfPlan(
  playbooks: readonly Playbook[],
  incident: Incident,
  facts: SubjectFacts,
  ctx: IncidentPlanContext | null,
): Playbook | undefined {
  if (ctx === null) return selectPlaybook(playbooks, incident, facts);
  return playbooks.find((p) => p.name === ctx.playbook) ?? removedPlaybook(ctx, incident);
}

/** What a plan whose playbook is no longer loaded runs under: its own steps, the default guardrails, no webhook. */
export function removedPlaybook(ctx: IncidentPlanContext, incident: Incident): Playbook {
  return {
    name: ctx.playbook,
    origin: '<removed>',
    mode: ctx.mode,
    match: { types: [incident.type] },
    steps: ctx.steps,
    escalate: { webhook: null, timeoutMs: 10_000 },
    guardrails: defaultGuardrails,
  };
}
