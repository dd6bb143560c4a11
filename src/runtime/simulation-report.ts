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
    });
  }
  const seen = new Set(incidents.map((i) => `${i.type} ${i.subject}`));
  const expected = new Set(args.scenario.expectedIncidents.map((e) => `${e.type} ${e.subject}`));
  const latestAll = await args.store.listLatestObservations();
  const observations = matchExpectedObservations(args.scenario.expectedObservations, args.audit, args.startedAt, args.latest);
  const missing = [
    ...[...expected].filter((e) => !seen.has(e)),
    ...observations.filter((o) => o.seen === null).map((o) => `observation ${o.source} on ${o.subject} matching /${o.matches}/`),
  ];
  const unexpected = [...seen].filter((e) => !expected.has(e));
  // Each expected incident once: a second incident on the same subject (a re-open, a second storm) is not what was asked for.
  const counts = new Map<string, number>();
  for (const i of incidents) counts.set(`${i.type} ${i.subject}`, (counts.get(`${i.type} ${i.subject}`) ?? 0) + 1);
  for (const [key, n] of counts) if (n > 1 && expected.has(key)) unexpected.push(`${n} incidents ${key}, where one was expected`);
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
