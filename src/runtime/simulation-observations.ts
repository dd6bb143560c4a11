import type { AuditEntry } from '../knowledge/audit.js';
import type { KnowledgeStore } from '../knowledge/knowledge-store.js';
import { observationKey, observationStateKey, type Observation } from '../knowledge/model/observation.js';
import { agentSubject, configMapSubject, secretSubject, trustDomainSubject } from '../knowledge/subject-ref.js';
import { describeObservation } from '../monitor/describe-observation.js';
import type { ExpectedObservation, Scenario } from '../sim/scenario.js';
import type { FaultRecord } from './simulated-fleet.js';

/** An audited observation as the report shows it. */
export interface ReportObservation {
  readonly subject: string;
  readonly source: string;
  readonly at: string;
  readonly message: string;
}

/** An expected observation and the first audited one that matched it (null = not seen). */
export interface ObservationExpectation extends ExpectedObservation {
  readonly seen: ReportObservation | null;
}

const isObservation = (e: AuditEntry): boolean => e.type === 'observation.changed' || e.type === 'observation.failed';
const sourceOf = (e: AuditEntry): string => (typeof e.data?.['source'] === 'string' ? e.data['source'] : '');
const stateOf = (e: AuditEntry): string => (typeof e.data?.['state'] === 'string' ? e.data['state'] : '');

function toReport(e: AuditEntry): ReportObservation {
  return { subject: e.subject ?? '', source: sourceOf(e), at: new Date(e.at).toISOString(), message: e.message };
}

/** The key of an expected observation, as observationKey spells it. */
const expectedKey = (x: ExpectedObservation): string => observationKey(x.subject, x.source);

/** The latest observation per expected (subject, source), keyed "subject|source". */
export async function latestForExpected(
  store: KnowledgeStore,
  expected: readonly ExpectedObservation[],
): Promise<Map<string, Observation>> {
  const out = new Map<string, Observation>();
  for (const x of expected) {
    const o = await store.latestObservation(x.subject, x.source);
    if (o !== null) out.set(observationKey(x.subject, x.source), o);
  }
  return out;
}

/**
 * Folds the latest observations into `remembered`, keeping for each expected (subject, source) the
 * first one that matched: a matching state that the monitor only overwrites (an SVID's lifetime
 * used, which is not audited as a change) still counts after a remediation replaced it.
 * Returns the map to hand to matchExpectedObservations: remembered matches over `latest`.
 */
export function rememberMatchingLatest(
  expected: readonly ExpectedObservation[],
  latest: ReadonlyMap<string, Observation>,
  remembered: Map<string, Observation>,
): Map<string, Observation> {
  for (const x of expected) {
    const key = expectedKey(x);
    const o = latest.get(key);
    if (remembered.has(key) || o === undefined) continue;
    const re = new RegExp(x.matches);
    if (re.test(describeObservation(o)) || re.test(observationStateKey(o))) remembered.set(key, o);
  }
  return new Map([...latest, ...remembered]);
}

/**
 * For each expected observation, the first audited observation (at or after `since`) whose message
 * or state matches, else the latest recorded one if it matches (states such as a sync age grow
 * without changing the audited state).
 */
export function matchExpectedObservations(
  expected: readonly ExpectedObservation[],
  entries: readonly AuditEntry[],
  since: number,
  latest: ReadonlyMap<string, Observation> = new Map(),
): ObservationExpectation[] {
  return expected.map((x) => {
    const re = new RegExp(x.matches);
    const hit = entries.find(
      (e) =>
        isObservation(e) &&
        e.at >= since &&
        e.subject === x.subject &&
        sourceOf(e) === x.source &&
        (re.test(e.message) || re.test(stateOf(e))),
    );
    if (hit !== undefined) return { ...x, seen: toReport(hit) };
    const key = expectedKey(x);
    const last = latest.get(key);
    if (last !== undefined && last.observedAt >= since) {
      const message = describeObservation(last);
      if (re.test(message) || re.test(observationStateKey(last)))
        return { ...x, seen: { subject: x.subject, source: x.source, at: new Date(last.observedAt).toISOString(), message } };
    }
    return { ...x, seen: null };
  });
}

/** Subjects whose observations show a fault: the target, its node's agent and workloads, or the trust bundle. */
export function subjectsOfFault(scenario: Scenario, fault: { readonly kind: string; readonly target: string }): Set<string> {
  const onNode = scenario.workloads.filter((w) => w.node === fault.target).map((w) => w.id);
  const trustDomain = trustDomainSubject(scenario.trustDomain);
  if (scenario.nodes.includes(fault.target)) return new Set([agentSubject(fault.target), ...onNode]);
  if (fault.target === 'configmap') return new Set([trustDomain, configMapSubject('spire', 'spire-bundle')]);
  if (fault.target === 'secret') {
    // The simulated fleet's CA-bundle secret lives in the first Cloud Run workload's project (fleet-cloudrun.ts).
    const project = scenario.workloads.find((w) => w.platform === 'cloudrun')?.location.split('/')[0] ?? '';
    return new Set([trustDomain, secretSubject(`projects/${project}/secrets/spire-bundle`)]);
  }
  const extra = fault.kind === 'ca_rotation_not_propagated' ? [trustDomain] : [];
  return new Set([fault.target, ...extra]);
}

/**
 * How the monitor saw a fault: the first few observations audited on its subjects after it was
 * injected or, when nothing changed state (a fault that freezes something, like a rotation that
 * stops), the latest observations of those subjects, which show the frozen state with its age.
 */
export function faultEvidence(
  scenario: Scenario,
  fault: FaultRecord,
  entries: readonly AuditEntry[],
  latest: readonly Observation[],
  limit = 4,
): ReportObservation[] {
  if (fault.injectedAt === null) return [];
  const since = fault.injectedAt;
  const subjects = subjectsOfFault(scenario, fault);
  const audited = entries
    .filter((e) => isObservation(e) && e.at >= since && e.subject !== undefined && subjects.has(e.subject))
    .slice(0, limit)
    .map(toReport);
  if (audited.length > 0) return audited;
  return latest
    .filter((o) => o.observedAt >= since && subjects.has(o.subject))
    .slice(0, limit)
    .map((o) => ({ subject: o.subject, source: o.source, at: new Date(o.observedAt).toISOString(), message: describeObservation(o) }));
}
