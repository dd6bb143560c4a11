import { initialTransition, transition } from 'xstate';
import type { AuditEventInput, AuditLog } from '../knowledge/audit.js';
import type { KnowledgeStore } from '../knowledge/knowledge-store.js';
import type { RemediationRequest } from '../knowledge/model/action-run.js';
import type { Incident, RemediationPhase } from '../knowledge/model/incident.js';
import { incidentPlanMachine, type IncidentPlanEvent, type IncidentPlanSnapshot } from './incident-plan.machine.js';
import { selectPlaybook, type Playbook } from './playbooks/playbook.js';

/** Bump when IncidentPlanSnapshot changes shape; older snapshots are then restarted from scratch. */
export const PLAN_SNAPSHOT_VERSION = 1;

/** Collaborators of the plan stage. `enqueue` is idempotent by request id. */
export interface PlanDeps {
  readonly store: KnowledgeStore;
  readonly audit: AuditLog;
  readonly playbooks: () => readonly Playbook[];
  readonly enqueue: (req: RemediationRequest) => Promise<boolean>;
}

/** What one reconcile pass saw. */
export interface PlanPassResult {
  readonly incidents: number;
  readonly enqueued: number;
  readonly paused: boolean;
}

type MachineState = ReturnType<typeof initialTransition<typeof incidentPlanMachine>>[0];

const phaseOf: Record<string, RemediationPhase> = {
  ready: 'pending', held: 'held', executing: 'remediating', verifying: 'verifying', escalated: 'needs_human', resolved: 'done',
};

/**
 * One plan pass, level-based like a controller reconcile: for every incident with a live plan,
 * restore its machine from knowledge, feed it what happened since (job outcome, resolution) and a
 * tick with `now`, persist the new snapshot, then make the world match the state (enqueue the
 * step's job; idempotent by job id). A crash between any two of these repeats no step.
 */
export async function reconcilePlans(deps: PlanDeps, now: number): Promise<PlanPassResult> {
  const kill = await deps.store.getControl();
  const incidents = await deps.store.listIncidents();
  // A fleet in a storm holds every remediation, exactly like the kill switch, until analysis resolves it.
  const storm = incidents.find((i) => i.type === 'fleet_storm' && i.status === 'open');
  const control = kill.paused || storm === undefined ? kill : { ...kill, paused: true, reason: `fleet in storm (${storm.id}): ${storm.explanation}` };
  let enqueued = 0;
  let live = 0;
  for (const incident of incidents) {
    const rec = await deps.store.loadPlanSnapshot(incident.id);
    if (incident.status === 'resolved' && rec === null) continue;
    live++;
    let state = rec?.version === PLAN_SNAPSHOT_VERSION ? restore(rec.snapshot as IncidentPlanSnapshot) : null;
    if (state === null) {
      if (incident.status === 'resolved') continue;
      state = await startPlan(deps, incident, now);
      if (state === null) continue;
    }
    const before = persistable(state);
    for (const event of await pendingEvents(deps, incident, state, now, control)) {
      state = transition(incidentPlanMachine, state, event)[0];
    }
    const after = persistable(state);
    if (JSON.stringify(after) !== JSON.stringify(before)) await recordTransition(deps, incident, before, after, now);
    if (state.status === 'done') await deps.store.deletePlanSnapshot(incident.id);
    else await deps.store.savePlanSnapshot(incident.id, { version: PLAN_SNAPSHOT_VERSION, snapshot: after });
    if (after.value === 'executing' && (await ensureJob(deps, incident, after, now))) enqueued++;
  }
  return { incidents: live, enqueued, paused: kill.paused };
}

async function startPlan(deps: PlanDeps, incident: Incident, now: number): Promise<MachineState | null> {
  const playbook = selectPlaybook(deps.playbooks(), incident.type);
  if (playbook === undefined) {
    const reason = `no playbook matches incident type ${incident.type}`;
    const existing = await deps.store.getRemediation(incident.id);
    if (existing?.phase !== 'held') {
      await deps.store.setRemediation(incident.id, { phase: 'held', playbook: '', step: 0, action: null, updatedAt: now, reason });
      await deps.audit.append({ type: 'plan.held', at: now, incidentId: incident.id, subject: incident.subject, message: reason, dedupKey: `plan.noPlaybook--${incident.id}` });
    }
    return null;
  }
  const [state] = initialTransition(incidentPlanMachine, {
    incidentId: incident.id, subject: incident.subject, playbook: playbook.name, mode: playbook.mode, steps: playbook.steps,
  });
  return state;
}

function restore(snap: IncidentPlanSnapshot): MachineState {
  return incidentPlanMachine.resolveState({ value: snap.value, context: snap.context });
}

function persistable(state: MachineState): IncidentPlanSnapshot {
  return { value: typeof state.value === 'string' ? state.value : JSON.stringify(state.value), context: state.context };
}

async function pendingEvents(
  deps: PlanDeps, incident: Incident, state: MachineState, now: number, control: { paused: boolean; reason: string },
): Promise<IncidentPlanEvent[]> {
  if (incident.status === 'resolved') {
    return [{ type: 'incident.resolved', at: incident.resolvedAt ?? now, reason: incident.history.at(-1)?.reason ?? 'incident resolved' }];
  }
  const events: IncidentPlanEvent[] = [];
  const jobId = state.context.jobId;
  if (state.value === 'executing' && jobId !== null) {
    const run = await deps.store.getActionRun(jobId);
    if (run !== null && (run.state === 'succeeded' || run.state === 'failed' || run.state === 'skipped')) {
      events.push({ type: 'job.finished', at: run.finishedAt ?? now, result: run.state, detail: run.detail });
    }
  }
  events.push({ type: 'plan.tick', now, paused: control.paused, pauseReason: control.reason });
  return events;
}

/** Makes sure the step's job exists: writes the queued action run, then enqueues (both idempotent). */
async function ensureJob(deps: PlanDeps, incident: Incident, snap: IncidentPlanSnapshot, now: number): Promise<boolean> {
  const c = snap.context;
  const step = c.steps[c.step];
  if (c.jobId === null || step === undefined) return false;
  const existing = await deps.store.getActionRun(c.jobId);
  const req: RemediationRequest = {
    id: c.jobId, incidentId: incident.id, step: c.step, attempt: c.attempt, action: step.action, target: incident.subject,
    decidedAt: existing?.enqueuedAt ?? now, shadow: c.mode === 'shadow',
  };
  if (existing === null) {
    await deps.store.putActionRun({
      id: req.id, incidentId: req.incidentId, step: req.step, attempt: req.attempt, action: req.action, target: req.target,
      state: 'queued', enqueuedAt: now, startedAt: null, finishedAt: null, detail: '', performed: false,
    });
  }
  const added = await deps.enqueue(req);
  if (added) {
    await deps.audit.append({
      type: 'job.enqueued', at: now, incidentId: incident.id, subject: incident.subject,
      message: `queued ${step.action} on ${incident.subject} as job ${req.id}${req.shadow ? ' (shadow: will be recorded, not performed)' : ''}`,
      data: { jobId: req.id, action: step.action, step: c.step, attempt: c.attempt, shadow: req.shadow },
      dedupKey: `job.enqueued--${req.id}`,
    });
  }
  return added;
}

async function recordTransition(deps: PlanDeps, incident: Incident, before: IncidentPlanSnapshot, after: IncidentPlanSnapshot, now: number): Promise<void> {
  const c = after.context;
  const step = c.steps[c.step];
  await deps.store.setRemediation(incident.id, {
    phase: phaseOf[after.value] ?? 'pending', playbook: c.playbook, step: c.step, action: step?.action ?? null, updatedAt: now, reason: c.reason,
  });
  const base = { at: now, incidentId: incident.id, subject: incident.subject };
  const events: AuditEventInput[] = [];
  const stepKey = `${incident.id}--s${c.step}--a${c.attempt}`;
  if (after.value === 'executing' && before.value !== 'executing') {
    events.push({ ...base, type: 'plan.decided', message: `decided ${c.reason}`, data: { playbook: c.playbook, step: c.step, action: step?.action ?? null, mode: c.mode }, dedupKey: `plan.decided--${stepKey}` });
  }
  if (after.value === 'held' && before.value !== 'held') {
    events.push({ ...base, type: 'plan.held', message: `held: ${c.reason}`, dedupKey: `plan.held--${stepKey}--${now}` });
  }
  if (after.value === 'verifying' && before.value !== 'verifying') {
    events.push({ ...base, type: 'plan.decided', message: `waiting up to ${Math.round((step?.verifyTimeoutMs ?? 0) / 1000)}s for the incident to clear (${c.reason})`, dedupKey: `plan.verifying--${stepKey}` });
  }
  if (before.value === 'verifying' && after.value === 'resolved') {
    events.push({ ...base, type: 'verification.passed', message: `verified: ${c.reason}`, dedupKey: `verification.passed--${incident.id}` });
  }
  if (before.value === 'verifying' && after.value !== 'resolved' && after.value !== 'verifying') {
    const prevStep = before.context.steps[before.context.step];
    events.push({ ...base, type: 'verification.failed', message: `step ${before.context.step + 1} (${prevStep?.action ?? '?'}) did not clear the incident: ${c.reason}`, dedupKey: `verification.failed--${incident.id}--s${before.context.step}` });
  }
  if (after.value === 'escalated' && before.value !== 'escalated') {
    events.push({ ...base, type: 'plan.escalated', message: `every step of playbook ${c.playbook} was tried; a person is needed (${c.reason})`, dedupKey: `plan.escalated--${incident.id}` });
  }
  for (const e of events) await deps.audit.append(e);
}
