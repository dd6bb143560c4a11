/**
 * Every example scenario, run in-process against the full simulated fleet (Envoy admin, SPIRE
 * gRPC, Kubernetes API, Cloud Run API) and a real Redis: each fault kind must show up in the
 * incidents or observations it expects, and every fault must leave evidence in the report.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { composition } from '../../src/main.js';
import { systemClock } from '../../src/knowledge/clock.js';
import { silentLogger } from '../../src/runtime/logger.js';
import { reportPassed, type SimulationReport } from '../../src/runtime/simulation-report.js';
import { runSimulation } from '../../src/runtime/simulation-runner.js';
import { parseScenario } from '../../src/sim/scenario.js';
import { SIM_FAULT_KINDS } from '../../src/sim/world-faults.js';
import { uniquePrefix, withRedis } from '../support/redis.js';
import { RedisAuditLog } from '../../src/adapters/redis/redis-audit-log.js';
import type { AuditEntry } from '../../src/knowledge/audit.js';

const TERMINAL = new Set(['job.succeeded', 'job.failed', 'job.skipped']);

/**
 * What is missing from an action's audit trail, in order: decision, enqueued, started, its effect
 * (a terminal job event), verification (after the start: a resolution can verify a job still running),
 * and (for a healed run) the incident's resolution after it started.
 */
function trailGaps(entries: readonly AuditEntry[], jobId: string, healed: boolean): string[] {
  const at = (pred: (e: AuditEntry) => boolean, from = 0): number => {
    const i = entries.slice(from).findIndex(pred);
    return i < 0 ? -1 : i + from;
  };
  const mentions = (e: AuditEntry): boolean => e.message.includes(jobId) || e.data?.['jobId'] === jobId;
  const gaps: string[] = [];
  // The decision that named this job (escalation notifications are decided by the escalation itself).
  const decided = jobId.endsWith('--escalate')
    ? at((e) => e.type === 'plan.escalated' || e.type === 'plan.decided')
    : at((e) => e.type === 'plan.decided' && e.data?.['jobId'] === jobId);
  const enqueued = at((e) => e.type === 'job.enqueued' && mentions(e), Math.max(decided, 0));
  const started = at((e) => e.type === 'job.started' && mentions(e), Math.max(enqueued, 0));
  const effect = at((e) => TERMINAL.has(e.type) && mentions(e), Math.max(started, 0));
  // Its step's verification (a resolution seen while the job still ran verifies it before the job's own terminal event lands).
  const step = entries[started]?.data?.['jobId'] === jobId ? /--s(\d+)--/.exec(jobId)?.[1] : undefined;
  const verified = at(
    (e) => e.type.startsWith('verification.') && (step === undefined || String(e.data?.['step']) === step),
    Math.max(started, 0),
  );
  const resolved = at((e) => e.type === 'incident.resolved', Math.max(started, 0));
  if (decided < 0) gaps.push('plan.decided');
  if (enqueued < 0) gaps.push('job.enqueued');
  if (started < 0) gaps.push('job.started');
  if (effect < 0) gaps.push('a terminal job event');
  if (verified < 0) gaps.push('verification');
  if (healed && resolved < 0) gaps.push('incident.resolved');
  return gaps;
}

const dir = 'examples/scenarios';
/** Scenarios simulated at once. */
const SCENARIOS_AT_ONCE = 4;
/** Fleets at least this large run alone, in fleet-at-scale.e2e.test.ts: next to others they would measure the machine. */
const LARGE_FLEET = 500;
const all = readdirSync(dir)
  .filter((f) => f.endsWith('.yaml'))
  .sort()
  .map((f) => parseScenario(`${dir}/${f}`, readFileSync(`${dir}/${f}`, 'utf8')));
const scenarios = all.filter((s) => s.workloads.length < LARGE_FLEET);

describe('example scenarios against the simulated fleet', () => {
  const redis = withRedis();

  it('cover every fault kind the simulator supports', () => {
    const covered = new Set(all.flatMap((s) => s.faults.map((f) => f.kind)));
    assert.deepEqual(
      SIM_FAULT_KINDS.filter((k) => !covered.has(k)),
      [],
    );
  });

  it('each scenario meets its expectations and every fault is visible in observations', { timeout: 400_000 }, async () => {
    // A few at a time (each run has its own fleet, sockets, ports and key prefix): the scenarios run
    // on the wall clock with SVIDs of seconds, so starving them of CPU would test the machine, not them.
    const reports: SimulationReport[] = [];
    let next = 0;
    await Promise.all(
      Array.from({ length: SCENARIOS_AT_ONCE }, async () => {
        for (let s = scenarios[next++]; s !== undefined; s = scenarios[next++]) {
          reports.push(
            await runSimulation(s, {
              startFleet: composition.startFleet,
              createDaemon: (config) => composition.createDaemon(config, { log: silentLogger(), serveHttp: false }),
              clock: systemClock,
              keyPrefix: uniquePrefix(s.name),
              redisUrl: redis.url,
            }),
          );
        }
      }),
    );
    const problems = reports.flatMap((r: SimulationReport) => [
      ...(reportPassed(r)
        ? []
        : [
            `${r.scenario}: did not pass (healed=${r.healed}, expectHealed=${r.expectHealed}, missing=${r.expectations.missing.join('; ')}, unexpected=${r.expectations.unexpected.join('; ')}, healthy-target actions=${r.actionsOnHealthyTargets})`,
          ]),
      ...r.faults.filter((f) => f.observedAs.length === 0).map((f) => `${r.scenario}: fault ${f.kind} on ${f.target} left no observation`),
    ]);
    assert.deepEqual(problems, []);

    // For each action, the audit log tells the whole story in order.
    const gaps: string[] = [];
    for (const r of reports) {
      const audit = new RedisAuditLog(redis.connect(), r.auditPrefix);
      for (const inc of r.incidents) {
        const entries = await audit.list({ incidentId: inc.id });
        const jobIds = new Set(
          entries
            .filter((e) => e.type === 'job.started')
            .map((e) => e.data?.['jobId'])
            .filter((id): id is string => typeof id === 'string'),
        );
        for (const jobId of jobIds) {
          const missing = trailGaps(entries, jobId, r.healed);
          if (missing.length > 0)
            gaps.push(`${r.scenario} ${inc.subject} job ${jobId}: no ${missing.join(', ')} in ${entries.map((e) => e.type).join(' > ')}`);
        }
      }
    }
    assert.deepEqual(gaps, []);
  });
});
