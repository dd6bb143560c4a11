import type { AuditEntry } from '../knowledge/audit.js';
import type { KnowledgeStore } from '../knowledge/knowledge-store.js';
import type { Observation } from '../knowledge/model/observation.js';
import {
  faultEvidence,
  matchExpectedObservations,
  type ObservationExpectation,
  type ReportObservation,
} from './simulation-observations.js';
import type { Scenario } from '../sim/scenario.js';
import type { FaultRecord } from './simulated-fleet.js';

/** One action in the report. */
export interface ReportAction {
  readonly action: string;
  readonly target: string;
  readonly result: string;
  readonly performed: boolean;
  readonly detail: string;
  readonly startedAt: string | null;
  readonly finishedAt: string | null;
}

/** One incident in the report. */
export interface ReportIncident {
  readonly id: string;
  readonly type: string;
  readonly subject: string;
  readonly openedAt: string;
  readonly resolvedAt: string | null;
  readonly explanation: string;
  readonly actions: readonly ReportAction[];
  /** When the plan escalated it to a person (first plan.escalated entry), or null. */
  readonly escalatedAt: string | null;
  /** When escalated for a hold past its certificate's expiry: when that certificate expired / expires. */
  readonly expiresWhileHeldAt: string | null;
}

/** One injected fault: when, whether healed, and the first observations that showed it. */
export interface ReportFault {
  readonly kind: string;
  readonly target: string;
  readonly injectedAt: string | null;
  readonly healedAt: string | null;
  readonly observedAs: readonly ReportObservation[];
}

/**
 * The `simulate --report` contract (keep fields; later issues add more):
 * healed is true when every injected fault was healed and no incident is left open.
 * `expectHealed` false (a fault whose remediation is not built yet) lets a run pass on detection:
 * the expected incidents and observations.
 */
export interface SimulationReport {
  readonly scenario: string;
  readonly healed: boolean;
  readonly expectHealed: boolean;
  readonly incidents: readonly ReportIncident[];
  readonly actionsOnHealthyTargets: number;
  readonly faults: readonly ReportFault[];
  readonly observations: readonly ObservationExpectation[];
  readonly expectations: { readonly met: boolean; readonly missing: readonly string[]; readonly unexpected: readonly string[] };
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly auditPrefix: string;
}

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

/** Builds the report from what knowledge recorded and what the simulated world says. */
export async function buildReport(args: {
  scenario: Scenario;
  store: KnowledgeStore;
  faults: readonly FaultRecord[];
  actionsOnHealthyTargets: number;
  startedAt: number;
  finishedAt: number;
  auditPrefix: string;
  audit: readonly AuditEntry[];
  latest?: ReadonlyMap<string, Observation>;
}): Promise<SimulationReport> {
  const incidents = (await args.store.listIncidents()).sort((a, b) => a.openedAt - b.openedAt);
  const reportIncidents: ReportIncident[] = [];
  for (const i of incidents) {
    const runs = await args.store.listActionRuns(i.id);
    reportIncidents.push({
      id: i.id,
      type: i.type,
      subject: i.subject,
      openedAt: new Date(i.openedAt).toISOString(),
      resolvedAt: iso(i.resolvedAt),
      explanation: i.explanation,
      actions: runs.map((r) => ({
        action: r.action,
        target: r.target,
        result: r.state,
        performed: r.performed,
        detail: r.detail,
        startedAt: iso(r.startedAt),
        finishedAt: iso(r.finishedAt),
      })),
      ...escalationOf(args.audit, i.id),
    });
  }
  const latestAll = await args.store.listLatestObservations();
  const observations = matchExpectedObservations(args.scenario.expectedObservations, args.audit, args.startedAt, args.latest);
  const gaps = incidentExpectationGaps(args.scenario, reportIncidents);
  const missing = [
    ...gaps.missing,
    ...observations.filter((o) => o.seen === null).map((o) => `observation ${o.source} on ${o.subject} matching /${o.matches}/`),
  ];
  const unexpected = [...gaps.unexpected];
  for (const e of args.scenario.expectedIncidents) {
    if (e.firstAction === undefined) continue;
    const first = reportIncidents.find((i) => i.type === e.type && i.subject === e.subject)?.actions.find((a) => a.action !== 'notify');
    if (first === undefined) missing.push(`${e.firstAction} as the first action on ${e.type} ${e.subject} (no action ran)`);
    else if (first.action !== e.firstAction)
      unexpected.push(`${first.action} as the first action on ${e.type} ${e.subject}, where ${e.firstAction} was expected`);
  }
  const actionsTaken = reportIncidents.reduce((n, i) => n + i.actions.filter((a) => a.action !== 'notify').length, 0);
  const max = args.scenario.expectedMaxActions;
  if (max !== null && actionsTaken > max) unexpected.push(`${actionsTaken} remediation actions, more than the expected maximum of ${max}`);
  const min = args.scenario.expectedMinActions;
  if (min !== null && actionsTaken < min)
    missing.push(`${min - actionsTaken} more remediation action(s): ${actionsTaken} ran, at least ${min} expected`);
  const allFaultsHealed = args.faults.every((f) => f.healedAt !== null);
  const noneOpen = incidents.every((i) => i.status === 'resolved');
  return {
    scenario: args.scenario.name,
    healed: allFaultsHealed && noneOpen,
    expectHealed: args.scenario.expectHealed,
    incidents: reportIncidents,
    actionsOnHealthyTargets: args.actionsOnHealthyTargets,
    faults: args.faults.map((f) => ({
      kind: f.kind,
      target: f.target,
      injectedAt: iso(f.injectedAt),
      healedAt: iso(f.healedAt),
      observedAs: faultEvidence(args.scenario, f, args.audit, latestAll),
    })),
    observations,
    expectations: { met: missing.length === 0 && unexpected.length === 0, missing, unexpected },
    startedAt: new Date(args.startedAt).toISOString(),
    finishedAt: new Date(args.finishedAt).toISOString(),
    auditPrefix: args.auditPrefix,
  };
}

/** simulate exits 0 only when this holds. */
export function reportPassed(r: SimulationReport): boolean {
  return (r.healed || !r.expectHealed) && r.actionsOnHealthyTargets === 0 && r.expectations.met;
}

/** When the plan first escalated an incident to a person, and the certificate expiry it was held past (if that was why). */
export function escalationOf(audit: readonly AuditEntry[], incidentId: string): Pick<ReportIncident, 'escalatedAt' | 'expiresWhileHeldAt'> {
  const e = audit.find((a) => a.type === 'plan.escalated' && a.incidentId === incidentId);
  const until = e?.data?.['expiresWhileHeldAt'];
  return { escalatedAt: iso(e?.at ?? null), expiresWhileHeldAt: iso(typeof until === 'number' ? until : null) };
}

/**
 * What the incidents opened so far miss or add against the scenario's expected incidents: exactly
 * these (type, subject) pairs, each `count` times (a re-open or a second storm beyond that is not
 * what was asked for), and with `escalated`, one of them escalated (for a hold past its
 * certificate's expiry: before that expiry) or none.
 */
export function incidentExpectationGaps(
  scenario: Scenario,
  incidents: readonly Pick<ReportIncident, 'type' | 'subject' | 'escalatedAt' | 'expiresWhileHeldAt'>[],
): { missing: string[]; unexpected: string[] } {
  const missing: string[] = [];
  const unexpected: string[] = [];
  const keyOf = (i: { type: string; subject: string }): string => `${i.type} ${i.subject}`;
  const expected = new Map(scenario.expectedIncidents.map((e) => [keyOf(e), e]));
  for (const key of new Set(incidents.map(keyOf))) if (!expected.has(key)) unexpected.push(key);
  for (const [key, e] of expected) {
    const mine = incidents.filter((i) => keyOf(i) === key);
    if (mine.length === 0) missing.push(key);
    else if (mine.length < e.count)
      missing.push(`${e.count - mine.length} more incident(s) ${key}: ${mine.length} opened, ${e.count} expected`);
    else if (mine.length > e.count)
      unexpected.push(`${mine.length} incidents ${key}, where ${e.count === 1 ? 'one was' : `${e.count} were`} expected`);
    if (e.escalated === undefined || mine.length === 0) continue;
    const escalated = mine.filter((i) => i.escalatedAt !== null);
    if (!e.escalated) {
      for (const i of escalated)
        unexpected.push(`${key} escalated to a person at ${i.escalatedAt ?? '?'}, where no escalation was expected`);
      continue;
    }
    const inTime = escalated.filter((i) => i.expiresWhileHeldAt === null || (i.escalatedAt ?? '') < i.expiresWhileHeldAt);
    if (escalated.length === 0) missing.push(`an escalation of ${key} to a person`);
    else if (inTime.length === 0)
      unexpected.push(`${key} escalated only after its certificate expired (${escalated[0]?.expiresWhileHeldAt ?? '?'})`);
  }
  return { missing, unexpected };
}
