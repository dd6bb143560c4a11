/**
 * Every Redis key the knowledge store and the audit log use, in one place. The layout is
 * documented at the top of redis-knowledge-store.ts; keep the two in step.
 */

/** Key names under one key prefix (one daemon fleet, one simulation, or one test). */
export interface KnowledgeKeys {
  readonly workloads: string;
  readonly observations: string;
  /** subject|source → "<stateSince>|<state key>": since when the observed state holds. */
  readonly observationStates: string;
  readonly openIncidents: string;
  readonly incidentsByOpenedAt: string;
  /** Prefix of incident hashes; `incident(id)` is `incidentPrefix + id` (Lua scripts build it the same way). */
  readonly incidentPrefix: string;
  incident(id: string): string;
  incidentRuns(incidentId: string): string;
  actionRun(runId: string): string;
  planSnapshot(incidentId: string): string;
  /** incidentId -> InFlightPlan JSON, for plans holding a concurrency slot. */
  readonly plansInFlight: string;
  /** Sorted set: incident type -> when one was last resolved. */
  readonly lastResolvedByType: string;
  readonly control: string;
  /** Ledger entry id (job id) -> LedgerEntry JSON as first recorded. */
  readonly ledgerEntries: string;
  ledgerByPlaybook(playbook: string): string;
  ledgerBySubject(subject: string): string;
  approval(incidentId: string): string;
  readonly audit: string;
  readonly auditHead: string;
  readonly auditDedup: string;
}

/** The key names for `prefix`. */
export function knowledgeKeys(prefix: string): KnowledgeKeys {
  const incidentPrefix = `${prefix}:incident:`;
  return {
    workloads: `${prefix}:workloads`,
    observations: `${prefix}:obs`,
    observationStates: `${prefix}:obs-state`,
    openIncidents: `${prefix}:incidents:open`,
    incidentsByOpenedAt: `${prefix}:incidents`,
    incidentPrefix,
    incident: (id) => `${incidentPrefix}${id}`,
    incidentRuns: (incidentId) => `${prefix}:incident-runs:${incidentId}`,
    actionRun: (runId) => `${prefix}:run:${runId}`,
    planSnapshot: (incidentId) => `${prefix}:plan:${incidentId}`,
    plansInFlight: `${prefix}:plans:in-flight`,
    lastResolvedByType: `${prefix}:incidents:last-resolved`,
    control: `${prefix}:control`,
    ledgerEntries: `${prefix}:ledger:entries`,
    ledgerByPlaybook: (playbook) => `${prefix}:ledger:playbook:${playbook}`,
    ledgerBySubject: (subject) => `${prefix}:ledger:subject:${subject}`,
    approval: (incidentId) => `${prefix}:approval:${incidentId}`,
    audit: `${prefix}:audit`,
    auditHead: `${prefix}:audit:head`,
    auditDedup: `${prefix}:audit:dedup`,
  };
}

/** Parses a JSON value stored by this adapter; null when absent. Callers cast: the adapter trusts what it wrote. */
export function parseStored(text: string | null | undefined): unknown {
  if (text === null || text === undefined) return null;
  return JSON.parse(text) as unknown;
}
