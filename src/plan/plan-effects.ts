import type { AuditEventInput } from '../knowledge/audit.js';
import type { LedgerEntry } from '../knowledge/knowledge-store.js';
import type { RemediationRequest } from '../knowledge/model/action-run.js';
import type { Incident, IncidentRemediation, RemediationPhase } from '../knowledge/model/incident.js';
import type { EffectName, IncidentPlanContext, IncidentPlanSnapshot, PlanEffectParams } from './incident-plan.machine.js';
import type { Playbook } from './playbooks/playbook.js';

/**
 * One write a plan pass decided, as apply-pass.ts performs it: an audit entry (dedup key), a
 * ledger entry (idempotent by job id) or a job (action run + enqueue, idempotent by job id).
 */
export type PlanEffect =
  | { readonly kind: 'audit'; readonly event: AuditEventInput }
  | { readonly kind: 'ledger'; readonly entry: LedgerEntry }
  | { readonly kind: 'job'; readonly request: RemediationRequest; readonly words: string };

/** An action as `transition()` returns it. */
export interface MachineAction {
  readonly type: string;
  readonly params?: unknown;
}

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

/** The remediation record of the incident for a plan state (plan's part of the incident). */
export function remediationOf(snap: IncidentPlanSnapshot, now: number): IncidentRemediation {
  const c = snap.context;
  return {
    phase: phaseOf[snap.value] ?? 'pending',
    playbook: c.playbook,
    step: c.step,
    action: c.steps[c.step]?.action ?? null,
    updatedAt: now,
    reason: c.reason,
    ...(c.awaitingPlanHash === null ? {} : { planHash: c.awaitingPlanHash }),
    ...(c.expiresWhileHeldAt === null || c.expiresWhileHeldAt === undefined ? {} : { expiresWhileHeldAt: c.expiresWhileHeldAt }),
  };
}

const EFFECT_NAMES: ReadonlySet<string> = new Set<EffectName>([
  'enqueueStepJob',
  'recordLedgerEntry',
  'notifyEscalation',
  'notifyHeldPastExpiry',
  'auditDecided',
  'auditStepSkipped',
  'auditHeld',
  'auditHeldPastExpiry',
  'auditAwaitingApproval',
  'auditVerifying',
  'auditVerified',
  'auditVerifiedByResolution',
  'auditVerificationFailed',
  'auditEscalated',
]);

/**
 * Pure: the writes of the effect actions one `transition()` returned, in order. `playbook` is the
 * loaded playbook of the plan (undefined when it was removed: no budget on the job, no webhook).
 */
export function effectsOf(
  actions: readonly MachineAction[],
  incident: Incident,
  now: number,
  playbook: Playbook | undefined,
): PlanEffect[] {
  const out: PlanEffect[] = [];
  for (const a of actions) {
    if (!EFFECT_NAMES.has(a.type)) continue;
    const e = effectOf(a.type as EffectName, a.params as PlanEffectParams, incident, now, playbook);
    if (e !== null) out.push(e);
  }
  return out;
}

const when = (ms: number): string => new Date(ms).toISOString();

function effectOf(
  name: EffectName,
  p: PlanEffectParams,
  incident: Incident,
  now: number,
  playbook: Playbook | undefined,
): PlanEffect | null {
  const c = p.context;
  const step = c.steps[c.step];
  const base = { at: now, incidentId: incident.id, subject: incident.subject };
  const stepKey = `${incident.id}--s${c.step}--a${c.attempt}--r${c.rerun}`;
  const audit = (event: Omit<AuditEventInput, 'at' | 'incidentId' | 'subject'>): PlanEffect => ({
    kind: 'audit',
    event: { ...base, ...event },
  });
  switch (name) {
    case 'enqueueStepJob': {
      const request = stepRequest({ value: 'executing', context: c }, incident, now, playbook);
      return request === null ? null : { kind: 'job', request, words: '' };
    }
    case 'recordLedgerEntry':
      // The ledger counts the action as soon as it is decided (shadow too): budgets see it before the job runs.
      return c.jobId === null
        ? null
        : { kind: 'ledger', entry: { id: c.jobId, playbook: c.playbook, subject: incident.subject, incidentId: incident.id, at: now } };
    case 'notifyEscalation': {
      const request = escalationRequest(playbook, { value: 'escalated', context: c }, incident, now);
      return request === null ? null : { kind: 'job', request, words: ' to notify a person' };
    }
    case 'notifyHeldPastExpiry': {
      const request = escalationRequest(playbook, { value: 'held', context: c }, incident, now);
      return request === null
        ? null
        : { kind: 'job', request: { ...request, id: `${incident.id}--held-s${c.step}--escalate` }, words: ' to notify a person' };
    }
    case 'auditDecided':
      return audit({
        type: 'plan.decided',
        message: `decided ${c.reason}`,
        data: { playbook: c.playbook, step: c.step, attempt: c.attempt, action: step?.action ?? null, mode: c.mode, jobId: c.jobId },
        dedupKey: `plan.decided--${stepKey}`,
      });
    case 'auditStepSkipped':
      return audit({
        type: 'plan.step_skipped',
        message: c.reason.startsWith('skipped') ? c.reason : `skipped step ${c.step + 1}`,
        data: { playbook: c.playbook, step: c.step, action: step?.action ?? null },
        dedupKey: `plan.step_skipped--${incident.id}--s${c.step}`,
      });
    case 'auditHeld':
      return audit({
        type: 'plan.held',
        message: `held: ${c.reason}`,
        data: { guardrail: c.heldBy, step: c.step },
        dedupKey: `plan.held--${stepKey}--${now}`,
      });
    case 'auditHeldPastExpiry': {
      const expiresAt = c.expiresWhileHeldAt ?? now;
      return audit({
        type: 'plan.escalated',
        message: `held by ${c.heldBy ?? '?'} until too late: the certificate expires at ${when(expiresAt)}, before the ladder could run; a person is needed (${c.reason})`,
        data: { guardrail: c.heldBy, step: c.step, expiresWhileHeldAt: expiresAt },
        dedupKey: `plan.escalated--${incident.id}--held-s${c.step}`,
      });
    }
    case 'auditAwaitingApproval':
      return audit({
        type: 'plan.awaiting_approval',
        message: c.reason,
        data: { planHash: c.awaitingPlanHash, step: c.step },
        dedupKey: `plan.awaiting--${stepKey}--${c.awaitingPlanHash ?? ''}`,
      });
    case 'auditVerifying':
      return audit({
        type: 'plan.decided',
        message: `waiting up to ${Math.round(c.verifyTimeoutMs / 1000)}s for ${step?.verify.expect ?? '?'} (${c.reason})`,
        dedupKey: `plan.verifying--${stepKey}`,
      });
    case 'auditVerified':
      return audit({
        type: 'verification.passed',
        message: c.reason,
        data: { step: c.step, expect: step?.verify.expect ?? null },
        dedupKey: `verification.passed--${stepKey}`,
      });
    case 'auditVerifiedByResolution':
      return verifiedByResolution(p, base, stepKey);
    case 'auditVerificationFailed':
      return audit({
        type: 'verification.failed',
        message: `step ${c.step + 1} (${step?.action ?? '?'}) did not verify: ${c.reason}`,
        data: { step: c.step, expect: step?.verify.expect ?? null },
        dedupKey: `verification.failed--${stepKey}`,
      });
    case 'auditEscalated':
      return audit({
        type: 'plan.escalated',
        message: `every step of playbook ${c.playbook} was tried or skipped; a person is needed (${c.reason})`,
        dedupKey: `plan.escalated--${incident.id}`,
      });
  }
}

/** Analysis resolved the incident on fresh evidence after the step's job started, before its post-condition was read. */
function verifiedByResolution(
  p: PlanEffectParams,
  base: { at: number; incidentId: string; subject: string },
  stepKey: string,
): PlanEffect | null {
  const c: IncidentPlanContext = p.context;
  if (c.jobId === null || p.event.type !== 'incident.resolved') return null;
  const during = c.jobFinishedAt === null ? 'executing' : 'verifying';
  const how = during === 'verifying' ? 'verified by' : 'verified, while its job was still running, by';
  return {
    kind: 'audit',
    event: {
      ...base,
      type: 'verification.passed',
      message: `step ${c.step + 1} (${c.steps[c.step]?.action ?? '?'}) ${how} the incident's resolution: ${p.event.reason}`,
      data: { step: c.step, expect: 'incident_resolved', during },
      dedupKey: `verification.passed--${stepKey}`,
    },
  };
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
