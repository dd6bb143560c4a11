import { writeFile } from 'node:fs/promises';
import { readInputFile } from '../runtime/read-input-file.js';
import { fileURLToPath } from 'node:url';
import { systemClock } from '../knowledge/clock.js';
import { silentLogger } from '../runtime/logger.js';
import { runSimulation } from '../runtime/simulation-runner.js';
import { reportPassed, type SimulationReport } from '../runtime/simulation-report.js';
import { parseScenario, ScenarioError, type Scenario } from '../sim/scenario.js';
import type { Composition } from './composition.js';
import { CliError, EXIT_FAILED, EXIT_OK } from './exit-codes.js';
import { formatTimelineEntry, isTimelineWorthy } from './timeline.js';

/** The scenario `demo` runs. */
export const DEMO_SCENARIO_PATH = fileURLToPath(new URL('../../examples/scenarios/envoy-sds-stuck.yaml', import.meta.url));

/** Options of `simulate` (and `demo`). */
export interface SimulateOptions {
  readonly scenarioPath: string;
  readonly reportPath?: string | undefined;
  readonly prefix?: string | undefined;
  readonly quiet: boolean;
  readonly json: boolean;
}

/** Reads and validates a scenario file; problems become a usage error naming file and key. */
export async function readScenario(path: string): Promise<Scenario> {
  const file = await readInputFile(path, 'scenario');
  if (!file.ok) throw new CliError(file.message);
  const text = file.text;
  try {
    return parseScenario(path, text);
  } catch (e) {
    if (e instanceof ScenarioError) throw new CliError(e.message);
    throw e;
  }
}

/** Runs a scenario against the simulated fleet, prints the timeline, writes the report. */
export async function simulateCommand(c: Composition, opts: SimulateOptions, out: (line: string) => void): Promise<number> {
  const scenario = await readScenario(opts.scenarioPath);
  const redis = await c.acquireRedis();
  const prefix = opts.prefix ?? `sim-${scenario.name}`;
  try {
    await c.wipePrefix(redis.url, prefix);
    const t0 = systemClock.now();
    if (!opts.quiet) {
      out(`spire-healer simulate: ${scenario.name} — ${scenario.description}`);
      out(
        `fleet: ${scenario.workloads.length} workloads in ${scenario.trustDomain}, SVID TTL ${scenario.svidTtlMs / 1000}s; faults: ${scenario.faults.map((f) => `${f.kind} on ${f.target} at +${f.atMs / 1000}s`).join(', ') || 'none'}`,
      );
      out(`redis: ${redis.throwaway ? 'throwaway redis-server (set REDIS_URL to keep the audit log)' : redis.url}, key prefix ${prefix}`);
      out('');
    }
    const report = await runSimulation(scenario, {
      startFleet: c.startFleet,
      createDaemon: (config) => c.createDaemon(config, { log: silentLogger(), serveHttp: false }),
      clock: systemClock,
      keyPrefix: prefix,
      redisUrl: redis.url,
      ...(opts.quiet
        ? {}
        : {
            onAudit: (e) => {
              if (isTimelineWorthy(e)) out(formatTimelineEntry(e, t0));
            },
          }),
    });
    if (opts.reportPath !== undefined) await writeFile(opts.reportPath, `${JSON.stringify(report, null, 2)}\n`);
    if (opts.json) out(JSON.stringify(report, null, 2));
    else if (!opts.quiet) printSummary(report, out, redis.throwaway);
    return reportPassed(report) ? EXIT_OK : EXIT_FAILED;
  } finally {
    await redis.stop();
  }
}

function printSummary(r: SimulationReport, out: (line: string) => void, throwaway: boolean): void {
  out('');
  const verdict = r.expectHealed
    ? reportPassed(r)
      ? 'HEALED'
      : 'NOT HEALED'
    : reportPassed(r)
      ? 'AS EXPECTED (the scenario expects no healing)'
      : 'NOT AS EXPECTED';
  out(
    `result: ${verdict} — ${r.incidents.length} incident(s), ${r.incidents.filter((i) => i.resolvedAt !== null).length} resolved, ` +
      `${r.incidents.reduce((n, i) => n + i.actions.length, 0)} action(s), ${r.actionsOnHealthyTargets} on healthy targets`,
  );
  for (const f of r.faults) {
    out(`  fault ${f.kind} on ${f.target}: injected ${f.injectedAt ?? '-'}, healed ${f.healedAt ?? 'NO'}`);
    for (const o of f.observedAs.slice(0, 2)) out(`    seen ${o.at} ${o.source} on ${o.subject}: ${o.message}`);
  }
  for (const o of r.observations)
    out(`  expected ${o.source} on ${o.subject} /${o.matches}/: ${o.seen === null ? 'NOT SEEN' : `seen ${o.seen.at}`}`);
  if (!r.expectations.met) {
    if (r.expectations.missing.length > 0) out(`  expected but not seen: ${r.expectations.missing.join('; ')}`);
    if (r.expectations.unexpected.length > 0) out(`  opened but not expected: ${r.expectations.unexpected.join('; ')}`);
  }
  if (!throwaway)
    out(`audit log: spire-healer audit --prefix ${r.auditPrefix} (verify with: spire-healer audit verify --prefix ${r.auditPrefix})`);
}
