import { initialTransition, transition } from 'xstate';
import type { AuditLog } from '../knowledge/audit.js';
import type { ControlState, InFlightPlan, KnowledgeStore, PlanSnapshotRecord } from '../knowledge/knowledge-store.js';
import type { RemediationRequest } from '../knowledge/model/action-run.js';
import type { Workload } from '../knowledge/model/workload.js';
import { FLEET_SUBJECT, type Incident } from '../knowledge/model/incident.js';
import type { RotationPolicy } from '../knowledge/svid-rotation.js';
import {
  incidentPlanMachine,
  type IncidentPlanContext,
  type IncidentPlanEvent,
  type IncidentPlanSnapshot,
} from './incident-plan.machine.js';
import { ensureJob, escalationRequest, recordTransition, stepRequest } from './plan-effects.js';
import { selectPlaybook } from './playbooks/match-playbook.js';
import { defaultGuardrails, type Playbook } from './playbooks/playbook.js';
import { checkPostCondition, type VerifyInput } from './post-conditions.js';
import { decideGate, InFlightTally, type PassState } from './step-gate.js';
import { gatherSubjectFacts, serviceOf, type SubjectFacts } from './subject-facts.js';

/** Bump when IncidentPlanSnapshot changes shape; older snapshots are then restarted from scratch. */
export const PLAN_SNAPSHOT_VERSION = 2;

/** Collaborators of the plan stage. `enqueue` is idempotent by request id. */
export interface PlanDeps {
  readonly store: KnowledgeStore;
  readonly audit: AuditLog;
  /** The current playbook set (hot reloaded: read on every pass). */
  readonly playbooks: () => readonly Playbook[];
  readonly enqueue: (req: RemediationRequest) => Promise<boolean>;
  /** For post-conditions that judge a served SVID (defaults: rotate at half-life, 1 s grace). */
  readonly rotation?: RotationPolicy;
}

/** What one reconcile pass saw. */
export interface PlanPassResult {
  readonly incidents: number;
  readonly enqueued: number;
  readonly paused: boolean;
  /** Live plans by machine state after the pass. */
  readonly phases: Readonly<Record<string, number>>;
  /** Held plans by the guardrail holding them. */
  readonly held: Readonly<Record<string, number>>;
}

type MachineState = ReturnType<typeof initialTransition<typeof incidentPlanMachine>>[0];
const IN_FLIGHT = new Set(['executing', 'verifying', 'verified', 'escalated']);
const WAITING = new Set(['ready', 'held', 'awaitingApproval']);

/**
 * One plan pass, level-based like a controller reconcile: for every incident with a live plan,
 * restore its machine from knowledge, feed it what happened since (job outcome, playbook
 * change, resolution) and a tick carrying the gate of its step (preconditions, guardrails,
 * backoff, approval, pacing) and the post-condition verdict, persist the new snapshot, then make
 * the world match the state (ledger entry and job for a started step, notification on
 * escalation; all idempotent by job id). A crash between any two of these repeats no step.
 *
 * `focus`: reconcile only these incidents (e.g. the ones analysis just opened), counting every
 * other in-flight plan from the in-flight index, so a new incident is acted on without a pass
 * over every open one. Without it, every live plan is visited (deadlines, verification).
 */
export async function reconcilePlans(
  deps: PlanDeps,
  now: number,
  focus?: ReadonlySet<string> | readonly string[],
): Promise<PlanPassResult> {
  const { pass, live } =
    focus === undefined
      ? await loadLivePlans(deps, await deps.store.listIncidents(), now)
      : await loadFocusedPlans(deps, [...new Set(focus)], now);
  let enqueued = 0;
  let count = 0;
  const phases: Record<string, number> = {};
  const held: Record<string, number> = {};
  for (const { incident, state: restored, saved } of live) {
    if (restored === null && incident.status === 'resolved') continue;
    count++;
    const facts = incident.status === 'open' ? await gatherSubjectFacts(deps.store, incident) : null;
    let state = restored ?? (facts === null ? null : await startPlan(deps, incident, facts, now));
    if (state === null) continue;
    const playbook = deps.playbooks().find((p) => p.name === state?.context.playbook);
    // Steps whose preconditions fail are skipped within the same pass, each audited on its own.
    for (let round = 0; round <= state.context.steps.length; round++) {
      const before = persistable(state);
      for (const event of await pendingEvents(deps, pass, incident, state, playbook, facts)) {
        state = transition(incidentPlanMachine, state, event)[0];
      }
      const next = persistable(state);
      if (JSON.stringify(next) !== JSON.stringify(before)) await recordTransition(deps, incident, before, next, now);
      if (!(next.value === 'ready' && next.context.step > before.context.step && WAITING.has(before.value))) break;
    }
    const after = persistable(state);
    if (state.status !== 'done') phases[after.value] = (phases[after.value] ?? 0) + 1;
    if (after.value === 'held') held[after.context.heldBy ?? 'unknown'] = (held[after.context.heldBy ?? 'unknown'] ?? 0) + 1;
    if (state.status === 'done') await deps.store.deletePlanSnapshot(incident.id);
    else {
      const inFlight: InFlightPlan | null = IN_FLIGHT.has(after.value)
        ? { incidentId: incident.id, playbook: after.context.playbook, group: after.context.group }
        : null;
      const rec: PlanSnapshotRecord = { version: PLAN_SNAPSHOT_VERSION, snapshot: after, inFlight };
      // Unchanged plans (most of them, most passes) are not written again.
      if (JSON.stringify(rec) !== saved) await deps.store.savePlanSnapshot(incident.id, rec);
    }
    if (after.value === 'executing') {
      const req = stepRequest(after, incident, now, playbook);
      if (req !== null) {
        // The ledger counts the action as soon as it is decided (shadow too): budgets see it before the job runs.
        await deps.store.recordLedgerEntry({
          id: req.id,
          playbook: after.context.playbook,
          subject: incident.subject,
          incidentId: incident.id,
          at: now,
        });
        pass.inFlight.add(incident.id, after.context);
        if (await ensureJob(deps, incident, req, now, '')) enqueued++;
      }
    }
    if (after.value === 'escalated') {
      const req = escalationRequest(playbook, after, incident, now);
      if (req !== null && (await ensureJob(deps, incident, req, now, ' to notify a person'))) enqueued++;
    }
  }
  return { incidents: count, enqueued, paused: pass.control.paused, phases, held };
}

/** Plan machine state as restored from a snapshot. */
export type PlanMachineState = MachineState;

/** A plan as loaded for a pass: its incident, restored state, and the record as saved (JSON). */
interface LivePlan {
  readonly incident: Incident;
  readonly state: MachineState | null;
  readonly saved: string | null;
}

function livePlan(incident: Incident, rec: PlanSnapshotRecord | null): LivePlan {
  const state = rec?.version === PLAN_SNAPSHOT_VERSION ? restore(rec.snapshot as IncidentPlanSnapshot) : null;
  return { incident, state, saved: rec === null ? null : JSON.stringify(rec) };
}

/**
 * Reads the fleet-wide pass state and every live plan (an incident open, or resolved with a
 * snapshot left), counting in-flight plans for concurrency and blast radius. Reads only.
 */
export async function loadLivePlans(
  deps: Pick<PlanDeps, 'store'>,
  incidents: readonly Incident[],
  now: number,
): Promise<{ pass: PassState; live: LivePlan[] }> {
  const storms = incidents.filter((i) => i.type === 'fleet_storm');
  const lastResolvedAt = storms.reduce<number | null>(
    (m, i) => (i.resolvedAt !== null && (m === null || i.resolvedAt > m) ? i.resolvedAt : m),
    null,
  );
  const pass = passState(
    now,
    await deps.store.getControl(),
    { open: storms.find((i) => i.status === 'open') ?? null, lastResolvedAt },
    await deps.store.listWorkloads(),
  );
  const live: LivePlan[] = [];
  for (const incident of incidents) {
    const rec = await deps.store.loadPlanSnapshot(incident.id);
    if (incident.status === 'resolved' && rec === null) continue;
    const plan = livePlan(incident, rec);
    if (plan.state !== null && IN_FLIGHT.has(plan.state.value)) pass.inFlight.add(incident.id, plan.state.context);
    live.push(plan);
  }
  return { pass, live };
}

/**
 * The pass state for a focused pass: the same fleet-wide facts read without listing incidents
 * (the open storm by its subject, the last storm's end from the store) and in-flight plans from
 * the in-flight index; then the focused incidents' own plans.
 */
async function loadFocusedPlans(
  deps: Pick<PlanDeps, 'store'>,
  ids: readonly string[],
  now: number,
): Promise<{ pass: PassState; live: LivePlan[] }> {
  const s = deps.store;
  const [control, open, lastResolvedAt, workloads, inFlight, incidents] = await Promise.all([
    s.getControl(),
    s.findOpenIncident('fleet_storm', FLEET_SUBJECT),
    s.lastResolvedAt('fleet_storm'),
    s.listWorkloads(),
    s.listInFlightPlans(),
    Promise.all(ids.map((id) => s.getIncident(id))),
  ]);
  const pass = passState(now, control, { open, lastResolvedAt }, workloads);
  for (const p of inFlight) pass.inFlight.add(p.incidentId, p);
  const live: LivePlan[] = [];
  for (const incident of incidents) {
    if (incident === null) continue;
    const rec = await s.loadPlanSnapshot(incident.id);
    if (incident.status === 'resolved' && rec === null) continue;
    live.push(livePlan(incident, rec));
  }
  return { pass, live };
}

function passState(now: number, control: ControlState, storm: PassState['storm'], workloads: readonly Workload[]): PassState {
  const service = new Map<string, number>();
  const node = new Map<string, number>();
  for (const w of workloads) {
    const s = serviceOf(w);
    if (s !== null) service.set(s, (service.get(s) ?? 0) + 1);
    if (w.node !== undefined) node.set(w.node, (node.get(w.node) ?? 0) + 1);
  }
  return { now, control, inFlight: new InFlightTally(), groupSizes: { service, node }, storm };
}

/** The plan machine's first state for an incident and its playbook. */
export function initialPlanState(incident: Incident, playbook: Playbook, facts: SubjectFacts): MachineState {
  return initialTransition(incidentPlanMachine, {
    incidentId: incident.id,
    subject: incident.subject,
    playbook: playbook.name,
    mode: playbook.mode,
    steps: playbook.steps,
    group: { service: facts.service, node: facts.node },
  })[0];
}

async function startPlan(deps: PlanDeps, incident: Incident, facts: SubjectFacts, now: number): Promise<MachineState | null> {
  const playbook = selectPlaybook(deps.playbooks(), incident, facts);
  if (playbook === undefined) {
    const reason = `no playbook matches incident type ${incident.type} on ${incident.subject}`;
    const existing = await deps.store.getRemediation(incident.id);
    if (existing?.phase !== 'held' || existing.reason !== reason) {
      await deps.store.setRemediation(incident.id, { phase: 'held', playbook: '', step: 0, action: null, updatedAt: now, reason });
      await deps.audit.append({
        type: 'plan.held',
        at: now,
        incidentId: incident.id,
        subject: incident.subject,
        message: reason,
        data: { guardrail: null },
        dedupKey: `plan.noPlaybook--${incident.id}`,
      });
    }
    return null;
  }
  return initialPlanState(incident, playbook, facts);
}

function restore(snap: IncidentPlanSnapshot): MachineState {
  return incidentPlanMachine.resolveState({ value: snap.value, context: snap.context });
}

function persistable(state: MachineState): IncidentPlanSnapshot {
  return { value: typeof state.value === 'string' ? state.value : JSON.stringify(state.value), context: state.context };
}

async function pendingEvents(
  deps: PlanDeps,
  pass: PassState,
  incident: Incident,
  state: MachineState,
  playbook: Playbook | undefined,
  facts: SubjectFacts | null,
): Promise<IncidentPlanEvent[]> {
  if (incident.status === 'resolved' || facts === null) {
    return [
      { type: 'incident.resolved', at: incident.resolvedAt ?? pass.now, reason: incident.history.at(-1)?.reason ?? 'incident resolved' },
    ];
  }
  const events: IncidentPlanEvent[] = [];
  const c = state.context;
  const value = state.value as string;
  if (value === 'executing' && c.jobId !== null) {
    const run = await deps.store.getActionRun(c.jobId);
    if (run !== null && (run.state === 'succeeded' || run.state === 'failed' || run.state === 'skipped')) {
      events.push({ type: 'job.finished', at: run.finishedAt ?? pass.now, result: run.state, detail: run.detail, held: run.held === true });
    }
  }
  if (
    WAITING.has(value) &&
    playbook !== undefined &&
    (playbook.mode !== c.mode || JSON.stringify(playbook.steps) !== JSON.stringify(c.steps))
  ) {
    events.push({ type: 'playbook.updated', mode: playbook.mode, steps: playbook.steps });
  }
  const recovering = incident.recoveringSince !== null && incident.recoveringSince !== undefined;
  // Gates are decided for the context the machine will have after the events above.
  const ctx: IncidentPlanContext = events.some((e) => e.type === 'playbook.updated')
    ? { ...c, steps: playbook?.steps ?? c.steps, mode: playbook?.mode ?? c.mode }
    : c;
  const effective =
    playbook === undefined
      ? {
          name: c.playbook,
          origin: '<removed>',
          mode: ctx.mode,
          match: { types: [incident.type] },
          steps: ctx.steps,
          escalate: { webhook: null, timeoutMs: 10_000 },
          guardrails: defaultGuardrails,
        }
      : { ...playbook, mode: ctx.mode };
  const gate = WAITING.has(value)
    ? (await decideGate(deps.store, pass, ctx, effective, incident, facts)).gate
    : { kind: 'hold' as const, guardrail: 'none', reason: '' };
  const verify =
    value === 'verifying' && c.jobFinishedAt !== null
      ? checkPostCondition(c.steps[c.step]?.verify.expect ?? 'incident_resolved', await verifyInput(deps, incident, facts, c, pass.now))
      : null;
  events.push({ type: 'plan.tick', now: pass.now, gate, verify, recovering });
  return events;
}

async function verifyInput(deps: PlanDeps, incident: Incident, f: SubjectFacts, c: IncidentPlanContext, now: number): Promise<VerifyInput> {
  const s = deps.store;
  const subject = incident.subject;
  const envoyCerts = f.kind === 'workload' ? await s.latestObservation(subject, 'envoy.certs') : null;
  const subjectBundle =
    f.kind === 'configmap'
      ? await s.latestObservation(subject, 'k8s.bundle')
      : f.kind === 'secret'
        ? await s.latestObservation(subject, 'cloudrun.bundle')
        : f.kind === 'agent'
          ? await s.latestObservation(subject, 'spire.agent.bundle')
          : envoyCerts;
  return {
    incident,
    now,
    since: c.jobFinishedAt ?? now,
    baselineSerial: c.baselineSerial,
    envoyCerts,
    subjectBundle,
    agentDebug: f.node === null ? null : await s.latestObservation(`agent:${f.node}`, 'spire.agent.debug'),
    serverBundle: f.trustDomain === null ? null : await s.latestObservation(`trust-domain:${f.trustDomain}`, 'spire.server.bundle'),
    cloudRun: f.platform === 'cloudrun' ? await s.latestObservation(subject, 'cloudrun.service') : null,
    rotation: deps.rotation ?? { rotateAtFraction: 0.5, graceMs: 1_000 },
  };
}
