import type { AuditLog } from '../knowledge/audit.js';
import type { KnowledgeStore } from '../knowledge/knowledge-store.js';
import type { IncidentType } from '../knowledge/model/incident.js';
import type { Observation } from '../knowledge/model/observation.js';
import type { AnalyzeConfig } from './analysis-input.js';
import { evaluate } from './evaluate.js';

/** Counts of what one pass changed, for metrics and the stage machine. */
export interface AnalysisPassResult {
  readonly opened: number;
  readonly resolved: number;
  readonly refreshed: number;
  /** Incident types opened and resolved in this pass, one entry per incident. */
  readonly openedTypes: readonly IncidentType[];
  readonly resolvedTypes: readonly IncidentType[];
  /** Ids of the incidents opened and resolved in this pass (what plan has to look at now). */
  readonly changedIds: readonly string[];
}

/** Collaborators the analyze stage uses; all are knowledge-level interfaces. */
export interface AnalyzeDeps {
  readonly store: KnowledgeStore;
  readonly audit: AuditLog;
  readonly config: AnalyzeConfig;
}

/**
 * One analysis pass: read knowledge, decide purely with `evaluate`, write the decisions back.
 * Idempotent: opening is atomic per (type, subject) in the store and audit appends carry
 * deterministic dedup keys, so two replicas or a repeated pass do not duplicate anything.
 */
export async function runAnalysisPass(deps: AnalyzeDeps, now: number): Promise<AnalysisPassResult> {
  const [workloads, latest, incidents] = await Promise.all([
    deps.store.listWorkloads(),
    deps.store.listLatestObservations(),
    deps.store.listIncidents(),
  ]);
  const observations = new Map<string, Observation>(latest.map((o) => [`${o.subject}|${o.source}`, o]));
  const openIncidents = incidents.filter((i) => i.status === 'open');
  const recentlyResolved = incidents.filter((i) => i.status === 'resolved' && (i.resolvedAt ?? 0) >= now - deps.config.flapWindowMs);
  const decisions = evaluate({ now, workloads, observations, openIncidents, recentlyResolved, config: deps.config });

  const openedTypes: IncidentType[] = [];
  const changedIds: string[] = [];
  for (const candidate of decisions.open) {
    const res = await deps.store.openIncident(candidate);
    if (!res.opened) continue;
    openedTypes.push(candidate.type);
    changedIds.push(candidate.id);
    await deps.audit.append({
      type: 'incident.opened',
      at: now,
      incidentId: candidate.id,
      subject: candidate.subject,
      message: candidate.explanation,
      data: { type: candidate.type, evidence: candidate.evidence.map((o) => ({ source: o.source, observedAt: o.observedAt })) },
      dedupKey: `incident.opened--${candidate.id}`,
    });
  }
  for (const { incident, finding } of decisions.refresh) {
    await deps.store.updateIncidentEvidence(incident.id, finding.evidence, finding.explanation, finding.cause);
  }
  for (const { incident, since, reason } of decisions.recovering) {
    await deps.store.setRecovering(incident.id, since, now, reason);
    await deps.audit.append({
      type: since === null ? 'incident.relapsed' : 'incident.recovering',
      at: now,
      incidentId: incident.id,
      subject: incident.subject,
      message: reason,
      dedupKey: `incident.${since === null ? 'relapsed' : 'recovering'}--${incident.id}--${now}`,
    });
  }
  const resolvedTypes: IncidentType[] = [];
  for (const { incident, reason } of decisions.resolve) {
    const done = await deps.store.resolveIncident(incident.id, now, reason);
    if (done === null) continue;
    resolvedTypes.push(incident.type);
    changedIds.push(incident.id);
    await deps.audit.append({
      type: 'incident.resolved',
      at: now,
      incidentId: incident.id,
      subject: incident.subject,
      message: reason,
      dedupKey: `incident.resolved--${incident.id}`,
    });
  }
  return {
    opened: openedTypes.length,
    resolved: resolvedTypes.length,
    refreshed: decisions.refresh.length,
    openedTypes,
    resolvedTypes,
    changedIds,
  };
}
