import type { Approval, ControlState, InFlightPlan, KnowledgeStore, PlanSnapshotRecord } from '../knowledge/knowledge-store.js';
import type { ActionRun } from '../knowledge/model/action-run.js';
import { FLEET_SUBJECT, type Incident, type IncidentRemediation } from '../knowledge/model/incident.js';
import type { Workload } from '../knowledge/model/workload.js';
import { agentSubject, trustDomainSubject } from '../knowledge/subject-ref.js';
import { IN_FLIGHT_STATES, playbookOfPlan, restorePlan } from './plan-state.js';
import type { Playbook } from './playbooks/playbook.js';
import type { VerifyObservations } from './post-conditions.js';
import { gatherSubjectFacts, serviceOf, type SubjectFacts } from './subject-facts.js';

/** What the guardrail ledger says about one incident's playbook and subject at the start of the pass. */
export interface LedgerView {
  /** Actions of the incident's playbook in its maxActionsPerPlaybook window (0 without that limit). */
  readonly playbookInWindow: number;
  /** Actions on the incident's subject in its maxActionsPerSubject window (0 without that limit). */
  readonly subjectInWindow: number;
  readonly lastOnSubject: { readonly at: number; readonly incidentId: string } | null;
}

/** Everything a pass needs about one incident, read before anything is decided. */
export interface IncidentFacts {
  readonly incident: Incident;
  /** Its plan as saved (null: no plan yet). */
  readonly saved: PlanSnapshotRecord | null;
  /** Facts of its subject (null for a resolved incident). */
  readonly facts: SubjectFacts | null;
  /** The action run of the job an executing plan waits for. */
  readonly jobRun: ActionRun | null;
  /** The ledger for its playbook and subject (null when it has no playbook or is resolved). */
  readonly ledger: LedgerView | null;
  /** The operator's approval (read for playbooks in approve mode). */
  readonly approval: Approval | null;
  /** Observations its step's post-condition is checked against (plans executing or verifying). */
  readonly observations: VerifyObservations | null;
  /** The remediation record, read for an incident without a plan (what a previous pass said about it). */
  readonly remediation: IncidentRemediation | null;
}

/** The read phase of one plan pass: fleet-wide state and every incident the pass looks at. */
export interface PassFacts {
  readonly now: number;
  readonly control: ControlState;
  /** An open fleet_storm incident, and when the last one resolved. */
  readonly storm: { readonly open: Incident | null; readonly lastResolvedAt: number | null };
  /** Replicas per service and workloads per node (blast-radius group sizes). */
  readonly groupSizes: { readonly service: ReadonlyMap<string, number>; readonly node: ReadonlyMap<string, number> };
  /** Plans holding a concurrency slot at the start of the pass. */
  readonly inFlight: readonly InFlightPlan[];
  readonly incidents: readonly IncidentFacts[];
}

/**
 * The read phase of a plan pass; writes nothing. Without `focus`: every live plan (an open
 * incident, or a resolved one whose plan has not ended), in-flight plans counted from their
 * snapshots. With `focus`: only those incidents, with the fleet-wide state read without listing
 * incidents (the open storm by its subject, in-flight plans from the in-flight index).
 */
export async function gatherPass(
  store: KnowledgeStore,
  playbooks: readonly Playbook[],
  now: number,
  focus?: readonly string[],
): Promise<PassFacts> {
  const [control, workloads] = await Promise.all([store.getControl(), store.listWorkloads()]);
  const groupSizes = groupSizesOf(workloads);
  const ledger = new LedgerReader(store, now);
  let storm: PassFacts['storm'];
  let inFlight: InFlightPlan[];
  const plans: { incident: Incident; saved: PlanSnapshotRecord | null }[] = [];
  if (focus === undefined) {
    const all = await store.listIncidents();
    const storms = all.filter((i) => i.type === 'fleet_storm');
    const lastResolvedAt = storms.reduce<number | null>(
      (m, i) => (i.resolvedAt !== null && (m === null || i.resolvedAt > m) ? i.resolvedAt : m),
      null,
    );
    storm = { open: storms.find((i) => i.status === 'open') ?? null, lastResolvedAt };
    inFlight = [];
    for (const incident of all) {
      const saved = await store.loadPlanSnapshot(incident.id);
      if (incident.status === 'resolved' && saved === null) continue;
      const state = restorePlan(saved);
      if (state !== null && IN_FLIGHT_STATES.has(state.value))
        inFlight.push({ incidentId: incident.id, playbook: state.context.playbook, group: state.context.group });
      plans.push({ incident, saved });
    }
  } else {
    const [open, lastResolvedAt, index, focused] = await Promise.all([
      store.findOpenIncident('fleet_storm', FLEET_SUBJECT),
      store.lastResolvedAt('fleet_storm'),
      store.listInFlightPlans(),
      Promise.all([...new Set(focus)].map((id) => store.getIncident(id))),
    ]);
    storm = { open, lastResolvedAt };
    inFlight = index;
    for (const incident of focused) {
      if (incident === null) continue;
      const saved = await store.loadPlanSnapshot(incident.id);
      if (incident.status === 'resolved' && saved === null) continue;
      plans.push({ incident, saved });
    }
  }
  const incidents: IncidentFacts[] = [];
  for (const p of plans) incidents.push(await gatherIncident(store, playbooks, ledger, p.incident, p.saved));
  return { now, control, storm, groupSizes, inFlight, incidents };
}

async function gatherIncident(
  store: KnowledgeStore,
  playbooks: readonly Playbook[],
  ledger: LedgerReader,
  incident: Incident,
  saved: PlanSnapshotRecord | null,
): Promise<IncidentFacts> {
  const state = restorePlan(saved);
  const value = state === null ? 'ready' : (state.value as string);
  const jobId = state?.context.jobId ?? null;
  const none = { jobRun: null, ledger: null, approval: null, observations: null, remediation: null };
  if (incident.status !== 'open') {
    const jobRun = value === 'executing' && jobId !== null ? await store.getActionRun(jobId) : null;
    return { incident, saved, facts: null, ...none, jobRun };
  }
  const facts = await gatherSubjectFacts(store, incident);
  const playbook = playbookOfPlan(playbooks, incident, facts, state?.context ?? null);
  // A plan in any state but escalated may reach its next step's gate within the pass.
  const gated = playbook !== undefined && value !== 'escalated';
  const [jobRun, ledgerView, approval, observations, remediation] = await Promise.all([
    value === 'executing' && jobId !== null ? store.getActionRun(jobId) : null,
    gated ? ledger.view(playbook, incident) : null,
    gated && playbook.mode === 'approve' ? store.getApproval(incident.id) : null,
    value === 'executing' || value === 'verifying' ? verifyObservations(store, incident, facts) : null,
    state === null ? store.getRemediation(incident.id) : null,
  ]);
  return { incident, saved, facts, jobRun, ledger: ledgerView, approval, observations, remediation };
}

/** Ledger counts for a pass, each (scope, window) read once however many incidents share it. */
class LedgerReader {
  private readonly counts = new Map<string, Promise<number>>();

  constructor(
    private readonly store: KnowledgeStore,
    private readonly now: number,
  ) {}

  async view(playbook: Playbook, incident: Incident): Promise<LedgerView> {
    const g = playbook.guardrails;
    const [playbookInWindow, subjectInWindow, last] = await Promise.all([
      g.maxActionsPerPlaybook === null ? 0 : this.count({ playbook: playbook.name }, g.maxActionsPerPlaybook.windowMs),
      g.maxActionsPerSubject === null ? 0 : this.count({ subject: incident.subject }, g.maxActionsPerSubject.windowMs),
      this.store.lastLedgerEntry(incident.subject),
    ]);
    return { playbookInWindow, subjectInWindow, lastOnSubject: last === null ? null : { at: last.at, incidentId: last.incidentId } };
  }

  private count(scope: { readonly playbook: string } | { readonly subject: string }, windowMs: number): Promise<number> {
    const key = `${JSON.stringify(scope)}|${windowMs}`;
    let n = this.counts.get(key);
    if (n === undefined) {
      n = this.store.countLedgerEntries(scope, this.now - windowMs);
      this.counts.set(key, n);
    }
    return n;
  }
}

function groupSizesOf(workloads: readonly Workload[]): PassFacts['groupSizes'] {
  const service = new Map<string, number>();
  const node = new Map<string, number>();
  for (const w of workloads) {
    const s = serviceOf(w);
    if (s !== null) service.set(s, (service.get(s) ?? 0) + 1);
    if (w.node !== undefined) node.set(w.node, (node.get(w.node) ?? 0) + 1);
  }
  return { service, node };
}

/** The observations a post-condition may look at, for the incident's subject. */
async function verifyObservations(store: KnowledgeStore, incident: Incident, f: SubjectFacts): Promise<VerifyObservations> {
  const subject = incident.subject;
  const bundleSource =
    f.kind === 'configmap' ? 'k8s.bundle' : f.kind === 'secret' ? 'cloudrun.bundle' : f.kind === 'agent' ? 'spire.agent.bundle' : null;
  const [envoyCerts, ownBundle, agentDebug, serverBundle, cloudRun] = await Promise.all([
    f.kind === 'workload' ? store.latestObservation(subject, 'envoy.certs') : null,
    bundleSource === null ? null : store.latestObservation(subject, bundleSource),
    f.node === null ? null : store.latestObservation(agentSubject(f.node), 'spire.agent.debug'),
    f.trustDomain === null ? null : store.latestObservation(trustDomainSubject(f.trustDomain), 'spire.server.bundle'),
    f.platform === 'cloudrun' ? store.latestObservation(subject, 'cloudrun.service') : null,
  ]);
  return { envoyCerts, subjectBundle: bundleSource === null ? envoyCerts : ownBundle, agentDebug, serverBundle, cloudRun };
}
