import { transition } from 'xstate';
import type { AuditEventInput } from '../knowledge/audit.js';
import type { InFlightPlan, PlanSnapshotRecord } from '../knowledge/knowledge-store.js';
import type { Incident, IncidentRemediation } from '../knowledge/model/incident.js';
import type { RotationPolicy } from '../knowledge/svid-rotation.js';
import type { GuardInput } from './guardrails.js';
import type { IncidentFacts, PassFacts } from './gather-pass.js';
import {
  incidentPlanMachine,
  type IncidentPlanContext,
  type IncidentPlanEvent,
  type IncidentPlanSnapshot,
  type StepGate,
} from './incident-plan.machine.js';
import { effectsOf, remediationOf, type PlanEffect } from './plan-effects.js';
import {
  IN_FLIGHT_STATES,
  initialPlanState,
  PLAN_SNAPSHOT_VERSION,
  persistable,
  removedPlaybook,
  restorePlan,
  WAITING_STATES,
  type PlanMachineState,
} from './plan-state.js';
import { selectPlaybook } from './playbooks/match-playbook.js';
import type { Playbook } from './playbooks/playbook.js';
import { checkPostCondition } from './post-conditions.js';
import { decideGate } from './step-gate.js';

/** What the pass decided for one incident: the plan's next state and the writes that make the world match. */
export interface IncidentDecision {
  readonly incident: Incident;
  /** The plan as the pass found it (null: none yet). */
  readonly before: IncidentPlanSnapshot | null;
  /** The plan after the pass (null: no playbook matches, so there is no plan). */
  readonly after: IncidentPlanSnapshot | null;
  /** The plan ended (resolved): its snapshot is deleted. */
  readonly done: boolean;
  /** The snapshot record to save, when it differs from the saved one. */
  readonly save: PlanSnapshotRecord | null;
  /** The incident's remediation record to write, when it changed. */
  readonly remediation: IncidentRemediation | null;
  /** Audit entries, ledger entries and jobs, in the order decided. */
  readonly effects: readonly PlanEffect[];
  /** The last gate decided for a waiting step (what dry-run explains). */
  readonly gate: StepGate | null;
}

/** Pass-wide inputs that are not read from knowledge. */
export interface DecideOptions {
  /** The current playbook set. */
  readonly playbooks: readonly Playbook[];
  /** For post-conditions that judge a served SVID. */
  readonly rotation: RotationPolicy;
}

/** Incidents in the order a pass decides them: oldest first, then by id (replicas agree on who gets the budget). */
export function passOrder(a: Incident, b: Incident): number {
  return a.openedAt - b.openedAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

/**
 * Pure: the decisions of one plan pass. A fold over the pass's incidents in a fixed order
 * (`passOrder`), carrying the guardrail ledger and the in-flight tally forward: a step started for
 * one incident counts against the budgets, cooldown, concurrency and blast radius of every
 * incident after it in the same pass. Each incident's plan machine is fed what happened since
 * (job outcome, playbook change, resolution) and a tick with its step's gate and post-condition;
 * steps whose preconditions fail are skipped within the pass. The effects are exactly the named
 * actions `transition()` returned, mapped to writes (plan-effects.ts). `plan --dry-run` shows
 * these decisions; the daemon applies them (apply-pass.ts).
 */
export function decidePass(input: PassFacts, opts: DecideOptions): IncidentDecision[] {
  const tally = new InFlightTally(input.inFlight);
  const started: StartedStep[] = [];
  const out: IncidentDecision[] = [];
  for (const x of [...input.incidents].sort((a, b) => passOrder(a.incident, b.incident))) {
    const d = decideIncident(input, x, opts, tally, started);
    if (d === null) continue;
    out.push(d);
    const after = d.after;
    if (after === null || d.done) continue;
    if (IN_FLIGHT_STATES.has(after.value)) tally.add(x.incident.id, after.context);
    if (after.value === 'executing' && after.context.jobId !== null && after.context.jobId !== d.before?.context.jobId)
      started.push({ playbook: after.context.playbook, subject: x.incident.subject, incidentId: x.incident.id });
  }
  return out;
}

/** A step started earlier in the same pass (its ledger entry is recorded at the pass's time). */
interface StartedStep {
  readonly playbook: string;
  readonly subject: string;
  readonly incidentId: string;
}

function decideIncident(
  input: PassFacts,
  x: IncidentFacts,
  opts: DecideOptions,
  tally: InFlightTally,
  started: readonly StartedStep[],
): IncidentDecision | null {
  const { incident, facts } = x;
  const restored = restorePlan(x.saved);
  let state: PlanMachineState;
  if (restored !== null) state = restored;
  else {
    if (incident.status === 'resolved' || facts === null) return null;
    const selected = selectPlaybook(opts.playbooks, incident, facts);
    if (selected === undefined) return noPlaybook(input, x);
    state = initialPlanState(incident, selected, facts);
  }
  const loaded = opts.playbooks.find((p) => p.name === state.context.playbook);
  const effects: PlanEffect[] = [];
  let gate: StepGate | null = null;
  // Steps whose preconditions fail are skipped within the same pass, each audited on its own.
  for (let round = 0; round <= state.context.steps.length; round++) {
    const before = persistable(state);
    const pending = pendingEvents(input, x, state, loaded, opts, tally, started);
    if (pending.gate !== null) gate = pending.gate;
    for (const event of pending.events) {
      const [next, actions] = transition(incidentPlanMachine, state, event);
      state = next;
      effects.push(...effectsOf(actions, incident, input.now, loaded));
    }
    const next = persistable(state);
    if (!(next.value === 'ready' && next.context.step > before.context.step && WAITING_STATES.has(before.value))) break;
  }
  const first = restored === null ? null : persistable(restored);
  const after = persistable(state);
  const done = state.status === 'done';
  const changed = first === null || JSON.stringify(after) !== JSON.stringify(first);
  const inFlight: InFlightPlan | null = IN_FLIGHT_STATES.has(after.value)
    ? { incidentId: incident.id, playbook: after.context.playbook, group: after.context.group }
    : null;
  const rec: PlanSnapshotRecord = { version: PLAN_SNAPSHOT_VERSION, snapshot: after, inFlight };
  // Unchanged plans (most of them, most passes) are not written again.
  const save = done || (x.saved !== null && JSON.stringify(rec) === JSON.stringify(x.saved)) ? null : rec;
  return {
    incident,
    before: first,
    after,
    done,
    save,
    remediation: changed ? remediationOf(after, input.now) : null,
    effects,
    gate,
  };
}

/** An open incident no playbook matches: recorded as held (once per reason), no plan. */
function noPlaybook(input: PassFacts, x: IncidentFacts): IncidentDecision {
  const { incident } = x;
  const reason = `no playbook matches incident type ${incident.type} on ${incident.subject}`;
  const already = x.remediation?.phase === 'held' && x.remediation.reason === reason;
  const event: AuditEventInput = {
    type: 'plan.held',
    at: input.now,
    incidentId: incident.id,
    subject: incident.subject,
    message: reason,
    data: { guardrail: null },
    dedupKey: `plan.noPlaybook--${incident.id}`,
  };
  return {
    incident,
    before: null,
    after: null,
    done: false,
    save: null,
    remediation: already ? null : { phase: 'held', playbook: '', step: 0, action: null, updatedAt: input.now, reason },
    effects: already ? [] : [{ kind: 'audit', event }],
    gate: null,
  };
}

/** The events a plan takes in this pass, and the gate decided for its waiting step. */
function pendingEvents(
  input: PassFacts,
  x: IncidentFacts,
  state: PlanMachineState,
  loaded: Playbook | undefined,
  opts: DecideOptions,
  tally: InFlightTally,
  started: readonly StartedStep[],
): { events: IncidentPlanEvent[]; gate: StepGate | null } {
  const { incident, facts } = x;
  const now = input.now;
  if (incident.status === 'resolved' || facts === null) {
    const reason = incident.history.at(-1)?.reason ?? 'incident resolved';
    return { events: [{ type: 'incident.resolved', at: incident.resolvedAt ?? now, reason }], gate: null };
  }
  const events: IncidentPlanEvent[] = [];
  const c = state.context;
  const value = state.value as string;
  const run = x.jobRun;
  if (
    value === 'executing' &&
    c.jobId !== null &&
    run?.id === c.jobId &&
    (run.state === 'succeeded' || run.state === 'failed' || run.state === 'skipped')
  )
    events.push({ type: 'job.finished', at: run.finishedAt ?? now, result: run.state, detail: run.detail, held: run.held === true });
  if (
    WAITING_STATES.has(value) &&
    loaded !== undefined &&
    (loaded.mode !== c.mode || JSON.stringify(loaded.steps) !== JSON.stringify(c.steps))
  )
    events.push({ type: 'playbook.updated', mode: loaded.mode, steps: loaded.steps });
  // Gates are decided for the context the machine will have after the events above.
  const ctx: IncidentPlanContext =
    loaded !== undefined && events.some((e) => e.type === 'playbook.updated') ? { ...c, steps: loaded.steps, mode: loaded.mode } : c;
  const effective = { ...(loaded ?? removedPlaybook(ctx, incident)), mode: ctx.mode };
  const gate = WAITING_STATES.has(value)
    ? decideGate({
        now,
        ctx,
        playbook: effective,
        incident,
        facts,
        control: input.control,
        storm: input.storm,
        ledger: ledgerOf(x, effective, started, now),
        inFlight: tally.count(incident.id, ctx),
        groupSizes: {
          service: ctx.group.service === null ? null : (input.groupSizes.service.get(ctx.group.service) ?? null),
          node: ctx.group.node === null ? null : (input.groupSizes.node.get(ctx.group.node) ?? null),
        },
        approval: x.approval,
      }).gate
    : null;
  const verify =
    value === 'verifying' && c.jobFinishedAt !== null && x.observations !== null
      ? checkPostCondition(c.steps[c.step]?.verify.expect ?? 'incident_resolved', {
          ...x.observations,
          incident,
          now,
          since: c.jobFinishedAt,
          baselineSerial: c.baselineSerial,
          rotation: opts.rotation,
        })
      : null;
  const recovering = incident.recoveringSince !== null && incident.recoveringSince !== undefined;
  events.push({ type: 'plan.tick', now, gate: gate ?? { kind: 'hold', guardrail: 'none', reason: '' }, verify, recovering });
  return { events, gate };
}

/** The ledger as gathered, plus the steps started earlier in this pass (recorded at `now`, so inside every window). */
function ledgerOf(x: IncidentFacts, playbook: Playbook, started: readonly StartedStep[], now: number): GuardInput['ledger'] {
  const g = x.ledger ?? { playbookInWindow: 0, subjectInWindow: 0, lastOnSubject: null };
  const onSubject = started.filter((s) => s.subject === x.incident.subject);
  const last = onSubject.at(-1);
  return {
    playbookInWindow:
      g.playbookInWindow +
      (playbook.guardrails.maxActionsPerPlaybook === null ? 0 : started.filter((s) => s.playbook === playbook.name).length),
    subjectInWindow: g.subjectInWindow + (playbook.guardrails.maxActionsPerSubject === null ? 0 : onSubject.length),
    lastOnSubject: last === undefined ? g.lastOnSubject : { at: now, incidentId: last.incidentId },
  };
}

/** Counts of in-flight plans per group; one incident counts once. */
export class InFlightTally {
  private readonly members = new Map<string, Set<string>>();

  constructor(plans: readonly InFlightPlan[] = []) {
    for (const p of plans) this.add(p.incidentId, p);
  }

  add(incidentId: string, ctx: Pick<IncidentPlanContext, 'playbook' | 'group'>): void {
    for (const key of keysOf(ctx)) {
      const set = this.members.get(key) ?? new Set<string>();
      set.add(incidentId);
      this.members.set(key, set);
    }
  }

  /** In-flight plans in each of the incident's groups, not counting the incident itself. */
  count(incidentId: string, ctx: Pick<IncidentPlanContext, 'playbook' | 'group'>): GuardInput['inFlight'] {
    const n = (key: string | null) => {
      if (key === null) return 0;
      const set = this.members.get(key);
      return set === undefined ? 0 : set.size - (set.has(incidentId) ? 1 : 0);
    };
    return {
      playbook: n(`pb|${ctx.playbook}`),
      service: n(ctx.group.service === null ? null : `svc|${ctx.group.service}`),
      node: n(ctx.group.node === null ? null : `node|${ctx.group.node}`),
    };
  }
}

function keysOf(ctx: Pick<IncidentPlanContext, 'playbook' | 'group'>): string[] {
  const keys = [`pb|${ctx.playbook}`];
  if (ctx.group.service !== null) keys.push(`svc|${ctx.group.service}`);
  if (ctx.group.node !== null) keys.push(`node|${ctx.group.node}`);
  return keys;
}
