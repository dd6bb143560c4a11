import type { AuditEntry, AuditLog } from '../knowledge/audit.js';
import { latestForExpected, matchExpectedObservations, rememberMatchingLatest } from './simulation-observations.js';
import type { Clock } from '../knowledge/clock.js';
import type { KnowledgeStore } from '../knowledge/knowledge-store.js';
import type { Observation } from '../knowledge/model/observation.js';
import type { Scenario } from '../sim/scenario.js';
import { sleep } from '../support/abortable-sleep.js';
import type { DaemonConfig } from './config.js';
import { defaultConfig } from './config.js';
import type { Daemon } from './daemon.js';
import { buildReport, escalationOf, incidentExpectationGaps, type ReportIncident, type SimulationReport } from './simulation-report.js';
import type { SimulatedFleet, StartFleet } from './simulated-fleet.js';

/** A daemon built for a simulation, with the knowledge it writes to. */
export interface SimulationDaemon {
  readonly daemon: Daemon;
  readonly store: KnowledgeStore;
  readonly audit: AuditLog;
  close(): Promise<void>;
}

/** Collaborators of a simulation run. */
export interface SimulationDeps {
  readonly startFleet: StartFleet;
  readonly createDaemon: (config: DaemonConfig) => Promise<SimulationDaemon>;
  readonly clock: Clock;
  readonly keyPrefix: string;
  readonly redisUrl: string;
  /** Called for every new audit entry while the run is going (the demo timeline). */
  readonly onAudit?: (entry: AuditEntry) => void;
}

/** Daemon settings for simulated fleets: fast loops, grace scaled to the short SVID TTLs. */
export function simulationConfig(scenario: Scenario, fleet: SimulatedFleet, redisUrl: string, keyPrefix: string): DaemonConfig {
  const base = defaultConfig();
  return {
    ...base,
    redis: { url: redisUrl, keyPrefix },
    http: { listen: '127.0.0.1:0' },
    intervals: { monitorMs: 500, analyzeMs: 250, planMs: 250, maxBackoffMs: 5_000 },
    // Thresholds scaled to the simulator's seconds-long SVIDs and 500 ms polls.
    analyze: {
      ...base.analyze,
      rotateAtFraction: 0.5,
      rotationGraceMs: Math.min(2_000, Math.round(scenario.svidTtlMs / 4)),
      staleAfterMs: 3_000,
      agentSyncStaleMs: 3_000,
      agentDownForMs: 1_000,
      bundleDriftGraceMs: 2_000,
      mtlsWindowMs: 3_000,
      cloudRunNotReadyForMs: 1_000,
      healthyForMs: 1_000,
      flapWindowMs: 30_000,
      ...scenario.analyze,
    },
    playbooks: scenario.playbooks,
    simulated: true,
    targets: fleet.targets(),
    sources: fleet.sources(),
  };
}

/**
 * Runs a scenario in real time: starts the simulated fleet and a daemon pointed at it, injects
 * each fault at its time, and stops when every fault is healed with no incident open (after
 * the scenario's minimum duration), or at its timeout. The report comes from knowledge.
 */
export async function runSimulation(scenario: Scenario, deps: SimulationDeps): Promise<SimulationReport> {
  const fleet = await deps.startFleet(scenario);
  const sd = await deps.createDaemon(simulationConfig(scenario, fleet, deps.redisUrl, deps.keyPrefix));
  const startedAt = deps.clock.now();
  const timers = scenario.faults.map((f) =>
    setTimeout(() => {
      fleet.injectFault(f);
    }, f.atMs),
  );
  let lastSeq = 0;
  const remembered = new Map<string, Observation>();
  const entries: AuditEntry[] = [];
  const drainAudit = async (): Promise<void> => {
    for (const e of await sd.audit.list({ sinceMs: startedAt })) {
      if (e.seq <= lastSeq) continue;
      lastSeq = e.seq;
      entries.push(e);
      deps.onAudit?.(e);
    }
  };
  try {
    await sd.daemon.start();
    const lastFaultAt = Math.max(0, ...scenario.faults.map((f) => f.atMs));
    for (;;) {
      await sleep(250);
      await drainAudit();
      const elapsed = deps.clock.now() - startedAt;
      if (elapsed >= scenario.timeoutMs) break;
      if (elapsed < Math.max(scenario.minDurationMs, lastFaultAt)) continue;
      const latest = rememberMatchingLatest(
        scenario.expectedObservations,
        await latestForExpected(sd.store, scenario.expectedObservations),
        remembered,
      );
      const seenAll = matchExpectedObservations(scenario.expectedObservations, entries, startedAt, latest).every((o) => o.seen !== null);
      if (!scenario.expectHealed) {
        // Detection only: stop once every expected observation and incident (each as often as
        // expected, escalated where expected) has been seen.
        if (seenAll && incidentExpectationGaps(scenario, await openedSoFar(sd.store, entries)).missing.length === 0) break;
        continue;
      }
      const faults = fleet.faults();
      const healed = faults.length === scenario.faults.length && faults.every((f) => f.healedAt !== null);
      const open = await sd.store.listIncidents({ status: 'open' });
      if (healed && open.length === 0 && seenAll && !(await jobsInFlight(sd.store))) break;
    }
  } finally {
    for (const t of timers) clearTimeout(t);
    await sd.daemon.stop(2_000);
  }
  await drainAudit();
  const report = await buildReport({
    scenario,
    store: sd.store,
    faults: fleet.faults(),
    actionsOnHealthyTargets: fleet.actionsOnHealthyTargets(),
    startedAt,
    finishedAt: deps.clock.now(),
    auditPrefix: deps.keyPrefix,
    audit: entries,
    latest: rememberMatchingLatest(
      scenario.expectedObservations,
      await latestForExpected(sd.store, scenario.expectedObservations),
      remembered,
    ),
  });
  // The daemon's clients first, so none is left reconnecting to a fake that went away.
  await sd.close();
  await fleet.stop();
  return report;
}

/**
 * Whether remediation is still under way: a job queued or running, or a plan that has not yet
 * taken in its incident's resolution. The report waits for their outcome and audit entries.
 */
async function jobsInFlight(store: KnowledgeStore): Promise<boolean> {
  for (const i of await store.listIncidents()) {
    if ((await store.listActionRuns(i.id)).some((r) => r.state === 'queued' || r.state === 'running')) return true;
    const phase = (await store.getRemediation(i.id))?.phase;
    if (i.status === 'resolved' && phase !== undefined && phase !== 'done' && phase !== 'needs_human') return true;
  }
  return false;
}

/** The incidents opened so far, with when each was escalated (from the audit entries read so far). */
async function openedSoFar(
  store: KnowledgeStore,
  audit: readonly AuditEntry[],
): Promise<Pick<ReportIncident, 'type' | 'subject' | 'escalatedAt' | 'expiresWhileHeldAt'>[]> {
  return (await store.listIncidents()).map((i) => ({ type: i.type, subject: i.subject, ...escalationOf(audit, i.id) }));
}
