import { assign, setup, transition } from 'xstate';

/**
 * Lifecycle of one (symptom, subject) once an incident is open, used as a pure reducer:
 *
 *   open --recovery evidence--> recovering --still healthy after healthyForMs--> resolved
 *    ^                              |
 *    +------- finding again --------+   (a relapse inside the healthy delay keeps the SAME incident)
 *
 * "healthy" (no incident) and "flapping" are decided outside: an incident opens on a finding, and
 * a subject that resolved too often within the flap window is reported as flapping instead of
 * opening yet another incident. The state lives in the incident (status, recoveringSince), so
 * the reducer is rebuilt from knowledge on every pass and survives restarts and replicas.
 */
export interface SymptomContext {
  /** When the current run of recovery evidence began; null while the symptom is present. */
  readonly recoveringSince: number | null;
  readonly healthyForMs: number;
}

export type SymptomEvent =
  | { readonly type: 'finding'; readonly at: number }
  | { readonly type: 'recovery'; readonly at: number }
  | { readonly type: 'no_evidence'; readonly at: number };

export const symptomLifecycleMachine = setup({
  types: { context: {} as SymptomContext, events: {} as SymptomEvent, input: {} as SymptomContext },
  guards: {
    healthyLongEnough: ({ context, event }) =>
      context.recoveringSince !== null && event.at - context.recoveringSince >= context.healthyForMs,
  },
}).createMachine({
  id: 'symptomLifecycle',
  initial: 'open',
  context: ({ input }) => input,
  states: {
    open: {
      on: { recovery: { target: 'recovering', actions: assign({ recoveringSince: ({ event }) => event.at }) } },
    },
    recovering: {
      always: { guard: ({ context }) => context.healthyForMs === 0, target: 'resolved' },
      on: {
        finding: { target: 'open', actions: assign({ recoveringSince: null }) },
        recovery: { guard: 'healthyLongEnough', target: 'resolved' },
      },
    },
    resolved: { type: 'final' },
  },
});

/** Where an open incident's lifecycle is after `event`. */
export type SymptomStep = 'open' | 'recovering' | 'resolved';

/** Pure: the lifecycle state after one pass, from the stored `recoveringSince`. */
export function stepSymptom(
  recoveringSince: number | null,
  healthyForMs: number,
  event: SymptomEvent,
): { readonly state: SymptomStep; readonly recoveringSince: number | null } {
  const value = recoveringSince === null ? 'open' : 'recovering';
  const snapshot = symptomLifecycleMachine.resolveState({ value, context: { recoveringSince, healthyForMs } });
  const [next] = transition(symptomLifecycleMachine, snapshot, event);
  return { state: next.value, recoveringSince: next.context.recoveringSince };
}
