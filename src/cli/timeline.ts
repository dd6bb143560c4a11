import type { AuditEntry } from '../knowledge/audit.js';

const labels: Partial<Record<AuditEntry['type'], string>> = {
  'observation.changed': 'observed',
  'observation.failed': 'probe failed',
  'incident.opened': 'DETECTED',
  'incident.resolved': 'RECOVERED',
  'incident.recovering': 'recovering',
  'incident.relapsed': 'RELAPSED',
  'plan.decided': 'plan',
  'plan.held': 'held',
  'plan.escalated': 'ESCALATED',
  'job.enqueued': 'job queued',
  'job.started': 'job started',
  'job.succeeded': 'job done',
  'job.failed': 'JOB FAILED',
  'job.skipped': 'job skipped',
  'verification.passed': 'VERIFIED',
  'verification.failed': 'not verified',
};

/** One readable timeline line: "+  3.2s  DETECTED      shop/web-1  <message>". */
export function formatTimelineEntry(e: AuditEntry, startedAt: number): string {
  const t = `+${((e.at - startedAt) / 1000).toFixed(1)}s`.padStart(7);
  const label = (labels[e.type] ?? e.type).padEnd(13);
  return `${t}  ${label} ${(e.subject ?? '').padEnd(18)} ${e.message}`;
}

/** Routine observations are noise in a timeline; incidents, plans and jobs are the story. */
export function isTimelineWorthy(e: AuditEntry): boolean {
  return e.type !== 'observation.changed' && e.type !== 'observation.failed';
}

/** One line of `spire-healer audit` output. */
export function formatAuditEntry(e: AuditEntry): string {
  return `#${String(e.seq).padStart(5)} ${new Date(e.at).toISOString()} ${e.type.padEnd(20)} ${(e.incidentId ?? '-').padEnd(10)} ${e.message}`;
}
