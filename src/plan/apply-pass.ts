import type { AuditLog } from '../knowledge/audit.js';
import type { KnowledgeStore } from '../knowledge/knowledge-store.js';
import type { RemediationRequest } from '../knowledge/model/action-run.js';
import type { Incident } from '../knowledge/model/incident.js';
import type { IncidentDecision } from './decide-pass.js';

/** What applying a pass writes to. `enqueue` is idempotent by request id (true when newly added). */
export interface PlanWriter {
  readonly store: KnowledgeStore;
  readonly audit: AuditLog;
  readonly enqueue: (req: RemediationRequest) => Promise<boolean>;
}

/**
 * Makes the world match one incident's decision, in this order: the remediation record and the
 * audit entries; then the plan snapshot (saved, or deleted when the plan ended); then the ledger
 * entries and jobs. Every write is idempotent (audit dedup keys, ledger and jobs by job id), and
 * an executing or escalated plan re-asserts its job on every pass, so a crash between any two
 * writes repeats no step. Returns how many jobs were newly enqueued.
 */
export async function applyDecision(w: PlanWriter, d: IncidentDecision, now: number): Promise<number> {
  const { incident } = d;
  if (d.remediation !== null) await w.store.setRemediation(incident.id, d.remediation);
  for (const e of d.effects) if (e.kind === 'audit') await w.audit.append(e.event);
  if (d.done) await w.store.deletePlanSnapshot(incident.id);
  else if (d.save !== null) await w.store.savePlanSnapshot(incident.id, d.save);
  let enqueued = 0;
  for (const e of d.effects) {
    if (e.kind === 'ledger') await w.store.recordLedgerEntry(e.entry);
    if (e.kind === 'job' && (await ensureJob(w, incident, e.request, now, e.words))) enqueued++;
  }
  return enqueued;
}

/** Writes the queued action run and enqueues the job (both idempotent by job id); true when newly added. */
async function ensureJob(w: PlanWriter, incident: Incident, req: RemediationRequest, now: number, words: string): Promise<boolean> {
  const existing = await w.store.getActionRun(req.id);
  if (existing === null) {
    await w.store.putActionRun({
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
  const added = await w.enqueue({ ...req, decidedAt: existing?.enqueuedAt ?? req.decidedAt });
  if (added) {
    await w.audit.append({
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
