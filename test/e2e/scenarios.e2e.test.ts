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

const dir = 'examples/scenarios';
const scenarios = readdirSync(dir).filter((f) => f.endsWith('.yaml')).sort().map((f) => parseScenario(`${dir}/${f}`, readFileSync(`${dir}/${f}`, 'utf8')));

describe('example scenarios against the simulated fleet', () => {
  const redis = withRedis();

  it('cover every fault kind the simulator supports', () => {
    const covered = new Set(scenarios.flatMap((s) => s.faults.map((f) => f.kind)));
    assert.deepEqual(SIM_FAULT_KINDS.filter((k) => !covered.has(k)), []);
  });

  it('each scenario meets its expectations and every fault is visible in observations', { timeout: 180_000 }, async () => {
    // Concurrently: each run has its own fleet, sockets, ports and key prefix.
    const reports = await Promise.all(scenarios.map((s) => runSimulation(s, {
      startFleet: composition.startFleet,
      createDaemon: (config) => composition.createDaemon(config, { log: silentLogger(), serveHttp: false }),
      clock: systemClock, keyPrefix: uniquePrefix(s.name), redisUrl: redis.url,
    })));
    const problems = reports.flatMap((r: SimulationReport) => [
      ...(reportPassed(r) ? [] : [`${r.scenario}: did not pass (healed=${r.healed}, expectHealed=${r.expectHealed}, missing=${r.expectations.missing.join('; ')}, unexpected=${r.expectations.unexpected.join('; ')}, healthy-target actions=${r.actionsOnHealthyTargets})`]),
      ...r.faults.filter((f) => f.observedAs.length === 0).map((f) => `${r.scenario}: fault ${f.kind} on ${f.target} left no observation`),
    ]);
    assert.deepEqual(problems, []);
  });
});
