import type { AuditEventInput } from '../knowledge/audit.js';
import type { Incident, RemediationPhase } from '../knowledge/model/incident.js';
import type { RemediationRequest } from '../knowledge/model/action-run.js';
import type { IncidentPlanSnapshot } from './incident-plan.machine.js';
import type { Playbook } from './playbooks/playbook.js';
import type { PlanDeps } from './reconcile-plans.js';

const phaseOf: Record<string, RemediationPhase> = {
  ready: 'pending',
  held: 'held',
  awaitingApproval: 'awaiting_approval',
  executing: 'remediating',
  verifying: 'verifying',
  verified: 'verifying',
  escalated: 'needs_human',
  resolved: 'done',
};

/** Writes the queued action run and enqueues the job (both idempotent by job id); true when newly added. */
export async function ensureJob(deps: PlanDeps, incident: Incident, req: RemediationRequest, now: number, words: string): Promise<boolean> {
  const existing = await deps.store.getActionRun(req.id);
  if (existing === null) {
    await deps.store.putActionRun({
      id: req.id,
      incidentId: req.incidentId,
      step: req.step,
      attempt: req.attempt,
      action: req.action,
      target: req.target,
      ...(req.params === undefined ? {} : { params: req.params }),
      state: 'queued',
      enqueuedAt: now,
      startedAt: null,
      finishedAt: null,
      detail: '',
      performed: false,
    });
  }
  const added = await deps.enqueue({ ...req, decidedAt: existing?.enqueuedAt ?? req.decidedAt });
  if (added) {
    await deps.audit.append({
      type: 'job.enqueued',
      at: now,
      incidentId: incident.id,
      subject: incident.subject,
      message: `queued ${req.action} on ${req.target} as job ${req.id}${words}${req.shadow ? ' (shadow: will be recorded, not performed)' : ''}`,
      data: { jobId: req.id, action: req.action, step: req.step, attempt: req.attempt, shadow: req.shadow },
      dedupKey: `job.enqueued--${req.id}`,
    });
  }
  return added;
}

/** The job of the step the plan is executing. */
export function stepRequest(snap: IncidentPlanSnapshot, incident: Incident, now: number, playbook?: Playbook): RemediationRequest | null {
  const c = snap.context;
  const step = c.steps[c.step];
  if (c.jobId === null || step === undefined) return null;
  return {
    id: c.jobId,
    incidentId: incident.id,
    step: c.step,
    attempt: c.attempt,
    action: step.action,
    target: incident.subject,
    params: step.params,
    decidedAt: now,
    shadow: c.mode === 'shadow',
    // Each delivery gets a share of the step's (paced) deadline; execute also cuts every delivery
    // at the deadline itself and skips one that starts after it (the plan has moved on by then).
    timeoutMs: Math.max(1_000, Math.floor(((c.deadlineAt ?? now + step.jobTimeoutMs) - now) / 2)),
    ...(c.deadlineAt === null ? {} : { deadlineAt: c.deadlineAt }),
    ...(playbook === undefined
      ? {}
      : {
          budget: {
            playbook: c.playbook,
            subject: incident.subject,
            perPlaybook: playbook.guardrails.maxActionsPerPlaybook,
            perSubject: playbook.guardrails.maxActionsPerSubject,
          },
        }),
  };
}

/** The escalation notification job, when the playbook names a webhook. */
export function escalationRequest(
  playbook: Playbook | undefined,
  snap: IncidentPlanSnapshot,
  incident: Incident,
  now: number,
): RemediationRequest | null {
  const url = playbook?.escalate.webhook ?? null;
  if (url === null) return null;
  const c = snap.context;
  return {
    id: `${incident.id}--escalate`,
    incidentId: incident.id,
    step: c.steps.length,
    attempt: 1,
    action: 'notify',
    target: incident.subject,
    params: { url, timeout: `${Math.round((playbook?.escalate.timeoutMs ?? 10_000) / 1000)}s`, reason: c.reason, playbook: c.playbook },
    decidedAt: now,
    shadow: c.mode === 'shadow',
  };
}

/** Records the plan's new phase on the incident and audits what changed between two snapshots. */
export async function recordTransition(
  deps: PlanDeps,
  incident: Incident,
  before: IncidentPlanSnapshot,
  after: IncidentPlanSnapshot,
  now: number,
): Promise<void> {
  const c = after.context;
  const step = c.steps[c.step];
  await deps.store.setRemediation(incident.id, {
    phase: phaseOf[after.value] ?? 'pending',
    playbook: c.playbook,
    step: c.step,
    action: step?.action ?? null,
    updatedAt: now,
    reason: c.reason,
    ...(c.awaitingPlanHash === null ? {} : { planHash: c.awaitingPlanHash }),
  });
  const base = { at: now, incidentId: incident.id, subject: incident.subject };
  const events: AuditEventInput[] = [];
  const stepKey = `${incident.id}--s${c.step}--a${c.attempt}--r${c.rerun}`;
  const entered = (v: string) => after.value === v && before.value !== v;
  const bc = before.context;
  // Steps skipped on the way (preconditions) are audited one by one, before what follows.
  if (after.context.step > bc.step && before.value !== 'executing' && before.value !== 'verifying' && before.value !== 'verified') {
    events.push({
      ...base,
      type: 'plan.step_skipped',
      message: c.reason.startsWith('skipped') ? c.reason : `skipped step ${bc.step + 1}`,
      data: { playbook: c.playbook, step: bc.step, action: bc.steps[bc.step]?.action ?? null },
      dedupKey: `plan.step_skipped--${incident.id}--s${bc.step}`,
    });
  }
  if (entered('executing') || (after.value === 'executing' && c.jobId !== bc.jobId)) {
    events.push({
      ...base,
      type: 'plan.decided',
      message: `decided ${c.reason}`,
      data: { playbook: c.playbook, step: c.step, attempt: c.attempt, action: step?.action ?? null, mode: c.mode, jobId: c.jobId },
      dedupKey: `plan.decided--${stepKey}`,
    });
  }
  if (entered('held') || (after.value === 'held' && c.heldBy !== bc.heldBy)) {
    events.push({
      ...base,
      type: 'plan.held',
      message: `held: ${c.reason}`,
      data: { guardrail: c.heldBy, step: c.step },
      dedupKey: `plan.held--${stepKey}--${now}`,
    });
  }
  if (after.value === 'awaitingApproval' && c.awaitingPlanHash !== bc.awaitingPlanHash) {
    events.push({
      ...base,
      type: 'plan.awaiting_approval',
      message: c.reason,
      data: { planHash: c.awaitingPlanHash, step: c.step },
      dedupKey: `plan.awaiting--${stepKey}--${c.awaitingPlanHash ?? ''}`,
    });
  }
  if (entered('verifying')) {
    events.push({
      ...base,
      type: 'plan.decided',
      message: `waiting up to ${Math.round(c.verifyTimeoutMs / 1000)}s for ${step?.verify.expect ?? '?'} (${c.reason})`,
      dedupKey: `plan.verifying--${stepKey}`,
    });
  }
  if (entered('verified')) {
    events.push({
      ...base,
      type: 'verification.passed',
      message: c.reason,
      data: { step: c.step, expect: step?.verify.expect ?? null },
      dedupKey: `verification.passed--${stepKey}`,
    });
  }
  if ((before.value === 'verifying' || (before.value === 'executing' && bc.jobId !== null)) && after.value === 'resolved') {
    // Analysis resolved the incident on fresh evidence after the step's job started, before its post-condition was read.
    const when = before.value === 'verifying' ? 'verified by' : 'verified, while its job was still running, by';
    events.push({
      ...base,
      type: 'verification.passed',
      message: `step ${bc.step + 1} (${bc.steps[bc.step]?.action ?? '?'}) ${when} the incident's resolution: ${c.reason}`,
      data: { step: bc.step, expect: 'incident_resolved', during: before.value },
      dedupKey: `verification.passed--${incident.id}--s${bc.step}--a${bc.attempt}--r${bc.rerun}`,
    });
  }
  if (before.value === 'verifying' && after.value !== 'verifying' && after.value !== 'verified' && after.value !== 'resolved') {
    events.push({
      ...base,
      type: 'verification.failed',
      message: `step ${bc.step + 1} (${bc.steps[bc.step]?.action ?? '?'}) did not verify: ${c.reason}`,
      data: { step: bc.step, expect: bc.steps[bc.step]?.verify.expect ?? null },
      dedupKey: `verification.failed--${incident.id}--s${bc.step}--a${bc.attempt}--r${bc.rerun}`,
    });
  }
  if (entered('escalated')) {
    events.push({
      ...base,
      type: 'plan.escalated',
      message: `every step of playbook ${c.playbook} was tried or skipped; a person is needed (${c.reason})`,
      dedupKey: `plan.escalated--${incident.id}`,
    });
  }
  for (const e of events) await deps.audit.append(e);
}
