/**
 * Issue 13's "done when": a healthy fleet of 1,200 workloads on 12 nodes, every agent's admin socket
 * announced (Delegated Identity streams and Debug reads on every agent), SVID TTL 30 s, runs 90 s with
 * 0 incidents and 0 actions, and at the end every workload has an SVID observation from its agent that
 * was received within one TTL and is not overdue. Once with per-pod registrations (one stream and one
 * SVID per workload), once with namespace/service-account registrations (one per account and node).
 * Each runs alone (the scenarios e2e test leaves fleets this large out): a healer sharing the CPU with
 * other fleets would measure the machine, not itself.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { RedisKnowledgeStore } from '../../src/adapters/redis/redis-knowledge-store.js';
import { systemClock } from '../../src/knowledge/clock.js';
import { rotationStatus } from '../../src/knowledge/svid-rotation.js';
import { composition } from '../../src/main.js';
import { silentLogger } from '../../src/runtime/logger.js';
import { reportPassed } from '../../src/runtime/simulation-report.js';
import { runSimulation } from '../../src/runtime/simulation-runner.js';
import { parseScenario } from '../../src/sim/scenario.js';
import { uniquePrefix, withRedis } from '../support/redis.js';

const FILES = ['examples/scenarios/healthy-fleet-1200.yaml', 'examples/scenarios/healthy-fleet-1200-shared.yaml'];

describe('a healthy fleet of 1,200 workloads with Delegated Identity streams', () => {
  const redis = withRedis();

  for (const file of FILES) {
    const scenario = parseScenario(file, readFileSync(file, 'utf8'));
    it(`${scenario.name}: no incident, no action, and every workload's SVID received within one TTL`, { timeout: 240_000 }, async () => {
      const prefix = uniquePrefix(scenario.name);
      const report = await runSimulation(scenario, {
        startFleet: composition.startFleet,
        createDaemon: (config) => composition.createDaemon(config, { log: silentLogger(), serveHttp: false }),
        clock: systemClock,
        keyPrefix: prefix,
        redisUrl: redis.url,
      });
      assert.deepEqual(
        report.incidents.map((i) => `${i.type} ${i.subject} at ${i.openedAt}: ${i.explanation}`).slice(0, 5),
        [],
        'no incident on a healthy fleet',
      );
      assert.deepEqual(
        report.incidents.flatMap((i) => i.actions),
        [],
        'no action',
      );
      assert.ok(reportPassed(report), `the scenario passes: ${JSON.stringify(report.expectations)}`);

      const store = new RedisKnowledgeStore(redis.connect(), prefix);
      const end = Date.parse(report.finishedAt);
      const workloads = await store.listWorkloads();
      assert.equal(workloads.length, scenario.workloads.length);
      const late: string[] = [];
      for (const w of workloads) {
        const o = await store.latestObservation(w.id, 'spire.delegated.svid');
        const svid = o?.data.kind === 'spire.svid' ? o.data.svid : null;
        if (o === null || svid === null) late.push(`${w.id}: ${o === null ? 'no observation' : o.data.kind}`);
        else if (end - o.observedAt > scenario.svidTtlMs) late.push(`${w.id}: received ${end - o.observedAt} ms before the end`);
        else if (rotationStatus(svid, o.observedAt, { rotateAtFraction: 0.5, graceMs: 2_000 }).overdue)
          late.push(`${w.id}: serial ${svid.serialNumber} overdue when received`);
      }
      assert.deepEqual(late.slice(0, 10), [], `${late.length} workload(s) without a current SVID observation`);
    });
  }
});
