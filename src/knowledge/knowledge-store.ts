import type { ActionRun } from './model/action-run.js';
import type { Incident, IncidentRemediation, IncidentType } from './model/incident.js';
import type { Observation, ObservationSource } from './model/observation.js';
import type { Workload } from './model/workload.js';

/** Result of recording an observation: whether the observed state differs from the previous one. */
export interface RecordResult {
  readonly changed: boolean;
  readonly previous: Observation | null;
}

/** Result of trying to open an incident: at most one open incident per (type, subject). */
export type OpenIncidentResult =
  { readonly opened: true; readonly incident: Incident } | { readonly opened: false; readonly incident: Incident };

/** Persisted per-incident plan machine (xstate persisted snapshot plus a version for migrations). */
export interface PlanSnapshotRecord {
  readonly version: number;
  readonly snapshot: unknown;
  /**
   * Set while the plan holds a concurrency slot (a step executing or verifying, or escalated):
   * the groups it counts in. Kept in an index so a pass over a few incidents can count every
   * in-flight plan without loading every snapshot.
   */
  readonly inFlight?: InFlightPlan | null;
}

/** A plan holding a concurrency / blast-radius slot, as the in-flight index keeps it. */
export interface InFlightPlan {
  readonly incidentId: string;
  readonly playbook: string;
  readonly group: { readonly service: string | null; readonly node: string | null };
}

/** One action the plan started (shadow included), as the guardrail ledger keeps it. */
export interface LedgerEntry {
  /** The job id: recording the same id twice counts once, at the time first recorded. */
  readonly id: string;
  readonly playbook: string;
  readonly subject: string;
  readonly incidentId: string;
  readonly at: number;
}

/** An operator's approval of one exact plan step (approve mode). */
export interface Approval {
  readonly incidentId: string;
  /** Hash of the plan it covers (playbook, steps, step index, target); a changed plan needs a new approval. */
  readonly planHash: string;
  readonly by: string;
  readonly at: number;
  readonly expiresAt: number;
}

export interface ControlState {
  readonly paused: boolean;
  readonly reason: string;
  readonly since: number | null;
}

/**
 * The knowledge base shared by all stages and all daemon replicas. Every method is safe to call
 * concurrently from several processes; writes are last-writer-wins per field unless stated.
 */
export interface KnowledgeStore {
  // fleet model
  putWorkload(w: Workload): Promise<void>;
  /** Forgets a workload the inventory no longer reports; true when it existed. Its observations stay until overwritten. */
  removeWorkload(id: string): Promise<boolean>;
  getWorkload(id: string): Promise<Workload | null>;
  listWorkloads(): Promise<Workload[]>;

  // observations: latest per (subject, source)
  recordObservation(o: Observation): Promise<RecordResult>;
  latestObservation(subject: string, source: ObservationSource): Promise<Observation | null>;
  listLatestObservations(): Promise<Observation[]>;

  // incidents: detection fields written by analyze only
  /** Atomically opens `candidate` unless an open incident with the same (type, subject) exists. */
  openIncident(candidate: Incident): Promise<OpenIncidentResult>;
  /** Marks the incident resolved (idempotent) and frees its (type, subject) slot. */
  resolveIncident(id: string, at: number, reason: string): Promise<Incident | null>;
  /** Marks an open incident recovering since `since` (null: the symptom is back), with a history entry. */
  setRecovering(id: string, since: number | null, at: number, reason: string): Promise<void>;
  /** Replaces evidence/explanation (and the diagnosed cause, when given) of an open incident. */
  updateIncidentEvidence(id: string, evidence: Incident['evidence'], explanation: string, cause?: Incident['cause']): Promise<void>;
  getIncident(id: string): Promise<Incident | null>;
  findOpenIncident(type: IncidentType, subject: string): Promise<Incident | null>;
  listIncidents(filter?: { readonly status?: Incident['status'] }): Promise<Incident[]>;
  /** When an incident of `type` was last resolved (ms), or null: e.g. the end of the last fleet storm. */
  lastResolvedAt(type: IncidentType): Promise<number | null>;

  // incidents: remediation fields written by plan only
  setRemediation(incidentId: string, r: IncidentRemediation): Promise<void>;
  getRemediation(incidentId: string): Promise<IncidentRemediation | null>;

  // action runs written by plan (queued) and execute (running..terminal)
  putActionRun(run: ActionRun): Promise<void>;
  getActionRun(id: string): Promise<ActionRun | null>;
  listActionRuns(incidentId: string): Promise<ActionRun[]>;

  // per-incident plan machine snapshots
  /** Saves the snapshot and keeps the in-flight index in step with `rec.inFlight`, atomically. */
  savePlanSnapshot(incidentId: string, rec: PlanSnapshotRecord): Promise<void>;
  loadPlanSnapshot(incidentId: string): Promise<PlanSnapshotRecord | null>;
  /** Deletes the snapshot and its in-flight index entry. */
  deletePlanSnapshot(incidentId: string): Promise<void>;
  /** Every plan in the in-flight index (see PlanSnapshotRecord.inFlight). */
  listInFlightPlans(): Promise<InFlightPlan[]>;

  // guardrail state (shared by replicas, survives restarts)
  /**
   * Records an action in the ledger, idempotent by entry id: recording an id again (every plan
   * pass while the step executes, or again after a restart) changes nothing, so the entry keeps
   * the `at` of its first record and counts once. Entries older than a day are dropped.
   */
  recordLedgerEntry(e: LedgerEntry): Promise<void>;
  /** Ledger entries at or after `since` for a playbook or a subject. */
  countLedgerEntries(scope: { readonly playbook: string } | { readonly subject: string }, since: number): Promise<number>;
  /** The latest ledger entry on a subject, or null. */
  lastLedgerEntry(subject: string): Promise<LedgerEntry | null>;
  /**
   * How many entries of the scope were recorded at or after `since` and strictly before entry
   * `id`; null when `id` is not in that scope's ledger.
   */
  ledgerEntriesBefore(
    scope: { readonly playbook: string } | { readonly subject: string },
    id: string,
    since: number,
  ): Promise<number | null>;
  putApproval(a: Approval): Promise<void>;
  getApproval(incidentId: string): Promise<Approval | null>;

  // kill switch
  getControl(): Promise<ControlState>;
  setControl(c: ControlState): Promise<void>;
}
