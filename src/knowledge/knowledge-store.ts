import type { ActionRun } from './model/action-run.js';
import type { Incident, IncidentRemediation, IncidentType } from './model/incident.js';
import type { Observation } from './model/observation.js';
import type { Workload } from './model/workload.js';

/** Result of recording an observation: whether the observed state differs from the previous one. */
export interface RecordResult {
  readonly changed: boolean;
  readonly previous: Observation | null;
}

/** Result of trying to open an incident: at most one open incident per (type, subject). */
export type OpenIncidentResult =
  | { readonly opened: true; readonly incident: Incident }
  | { readonly opened: false; readonly incident: Incident };

/** Persisted per-incident plan machine (xstate persisted snapshot plus a version for migrations). */
export interface PlanSnapshotRecord {
  readonly version: number;
  readonly snapshot: unknown;
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
  latestObservation(subject: string, source: string): Promise<Observation | null>;
  listLatestObservations(): Promise<Observation[]>;

  // incidents: detection fields written by analyze only
  /** Atomically opens `candidate` unless an open incident with the same (type, subject) exists. */
  openIncident(candidate: Incident): Promise<OpenIncidentResult>;
  /** Marks the incident resolved (idempotent) and frees its (type, subject) slot. */
  resolveIncident(id: string, at: number, reason: string): Promise<Incident | null>;
  /** Marks an open incident recovering since `since` (null: the symptom is back), with a history entry. */
  setRecovering(id: string, since: number | null, at: number, reason: string): Promise<void>;
  /** Replaces evidence/explanation of an open incident. */
  updateIncidentEvidence(id: string, evidence: Incident['evidence'], explanation: string): Promise<void>;
  getIncident(id: string): Promise<Incident | null>;
  findOpenIncident(type: IncidentType, subject: string): Promise<Incident | null>;
  listIncidents(filter?: { readonly status?: Incident['status'] }): Promise<Incident[]>;

  // incidents: remediation fields written by plan only
  setRemediation(incidentId: string, r: IncidentRemediation): Promise<void>;
  getRemediation(incidentId: string): Promise<IncidentRemediation | null>;

  // action runs written by plan (queued) and execute (running..terminal)
  putActionRun(run: ActionRun): Promise<void>;
  getActionRun(id: string): Promise<ActionRun | null>;
  listActionRuns(incidentId: string): Promise<ActionRun[]>;

  // per-incident plan machine snapshots
  savePlanSnapshot(incidentId: string, rec: PlanSnapshotRecord): Promise<void>;
  loadPlanSnapshot(incidentId: string): Promise<PlanSnapshotRecord | null>;
  deletePlanSnapshot(incidentId: string): Promise<void>;

  // kill switch
  getControl(): Promise<ControlState>;
  setControl(c: ControlState): Promise<void>;
}
