import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { parseScenario, ScenarioError } from '../../../src/sim/scenario.js';

describe('scenario files', () => {
  for (const f of readdirSync('examples/scenarios').filter((n) => n.endsWith('.yaml'))) {
    it(`examples/scenarios/${f} is valid`, () => {
      const s = parseScenario(f, readFileSync(`examples/scenarios/${f}`, 'utf8'));
      assert.ok(s.workloads.length > 0);
    });
  }

  it('expands workload groups into ids and SPIFFE IDs', () => {
    const s = parseScenario('s.yaml', 'name: x\nfleet:\n  workloads:\n    - {location: shop, name: web, count: 2}\n');
    assert.deepEqual(s.workloads.map((w) => w.id), ['shop/web-0', 'shop/web-1']);
    assert.equal(s.workloads[0]?.spiffeId, 'spiffe://example.org/ns/shop/sa/web');
  });

  const bad: Record<string, { text: string; want: RegExp }> = {
    'an unknown fault kind names the key and line': { text: 'name: x\nfleet:\n  workloads:\n    - {location: shop, name: web}\nfaults:\n  - {kind: meteor, target: shop/web-0, at: 1s}\n', want: /s\.yaml:6:\d+: faults\.0\.kind/ },
    'a fault on a missing workload names it': { text: 'name: x\nfleet:\n  workloads:\n    - {location: shop, name: web}\nfaults:\n  - {kind: envoy_sds_stuck, target: shop/api-0, at: 1s}\n', want: /faults\.0\.target: no workload "shop\/api-0"/ },
    'a misspelt top-level key is named': { text: 'name: x\nfleat: {}\n', want: /s\.yaml:2:1: fleat: .*unrecognized/i },
    'a bad duration is named': { text: 'name: x\nfleet:\n  svidTtl: forever\n  workloads:\n    - {location: shop, name: web}\n', want: /fleet\.svidTtl: expected a duration/ },
  };
  for (const [name, c] of Object.entries(bad)) {
    it(name, () => {
      assert.throws(() => parseScenario('s.yaml', c.text), (e: unknown) => e instanceof ScenarioError && c.want.test(e.message));
    });
  }
});
