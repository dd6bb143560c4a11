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
    assert.deepEqual(
      s.workloads.map((w) => w.id),
      ['shop/web-0', 'shop/web-1'],
    );
    assert.equal(s.workloads[0]?.spiffeId, 'spiffe://example.org/ns/shop/sa/web');
  });

  it('spreads workloads over the nodes round-robin and keeps cloudrun ids under project/region', () => {
    const s = parseScenario(
      's.yaml',
      'name: x\nfleet:\n  nodes: 2\n  workloads:\n    - {location: shop, name: web, count: 3}\n    - {location: proj-1/europe-west1, name: pay, platform: cloudrun}\n',
    );
    assert.deepEqual(s.nodes, ['node-0', 'node-1']);
    assert.deepEqual(
      s.workloads.map((w) => `${w.id}@${w.node}`),
      ['shop/web-0@node-0', 'shop/web-1@node-1', 'shop/web-2@node-0', 'proj-1/europe-west1/pay-0@node-1'],
    );
    assert.equal(s.workloads[3]?.spiffeId, 'spiffe://example.org/run/proj-1/europe-west1/pay');
  });

  const bad: Record<string, { text: string; want: RegExp }> = {
    'an unknown fault kind names the key and line': {
      text: 'name: x\nfleet:\n  workloads:\n    - {location: shop, name: web}\nfaults:\n  - {kind: meteor, target: shop/web-0, at: 1s}\n',
      want: /s\.yaml:6:\d+: faults\.0\.kind/,
    },
    'a fault on a missing workload names it': {
      text: 'name: x\nfleet:\n  workloads:\n    - {location: shop, name: web}\nfaults:\n  - {kind: envoy_sds_stuck, target: shop/api-0, at: 1s}\n',
      want: /faults\.0\.target: envoy_sds_stuck needs a workload; "shop\/api-0" is not one \(workload ids look like shop\/web-0\)/,
    },
    'a node fault on a workload names the nodes': {
      text: 'name: x\nfleet:\n  nodes: 3\n  workloads:\n    - {location: shop, name: web}\nfaults:\n  - {kind: agent_down, target: shop/web-0, at: 1s}\n',
      want: /faults\.0\.target: agent_down needs a node; "shop\/web-0" is not one \(nodes are node-0, node-1, node-2\)/,
    },
    'an unknown fault kind lists the kinds': {
      text: 'name: x\nfleet:\n  workloads:\n    - {location: shop, name: web}\nfaults:\n  - {kind: meltdown, target: shop/web-0, at: 1s}\n',
      want: /faults\.0\.kind: .*agent_server_lost/,
    },
    'the bundle secret is a fault target only with cloudrun workloads': {
      text: 'name: x\nfleet:\n  workloads:\n    - {location: shop, name: web}\nfaults:\n  - {kind: ca_rotation_not_propagated, target: secret, at: 1s}\n',
      want: /faults\.0\.target: ca_rotation_not_propagated needs a workload or configmap; "secret" is not one \(.*"secret" with cloudrun workloads\)/,
    },
    'a secret incident subject needs cloudrun workloads': {
      text: 'name: x\nfleet:\n  workloads:\n    - {location: shop, name: web}\nexpect:\n  incidents:\n    - {type: trust_bundle_drift, subject: "secret:projects/acme/secrets/spire-bundle"}\n',
      want: /expect\.incidents\.0\.subject: "secret:projects\/acme\/secrets\/spire-bundle" is not/,
    },
    'a cloudrun group needs project/region': {
      text: 'name: x\nfleet:\n  workloads:\n    - {location: shop, name: web, platform: cloudrun}\n',
      want: /fleet\.workloads\.0\.location: a cloudrun group's location is "<project>\/<region>"/,
    },
    'a bad observation regex is named': {
      text: 'name: x\nfleet:\n  workloads:\n    - {location: shop, name: web}\nexpect:\n  observations:\n    - {subject: shop/web-0, source: envoy.stats, matches: "("}\n',
      want: /expect\.observations\.0\.matches: expected a valid regular expression/,
    },
    'a misspelt top-level key is named': { text: 'name: x\nfleat: {}\n', want: /s\.yaml:2:1: fleat: .*unrecognized/i },
    'a bad duration is named': {
      text: 'name: x\nfleet:\n  svidTtl: forever\n  workloads:\n    - {location: shop, name: web}\n',
      want: /fleet\.svidTtl: expected a duration/,
    },
  };
  for (const [name, c] of Object.entries(bad)) {
    it(name, () => {
      assert.throws(
        () => parseScenario('s.yaml', c.text),
        (e: unknown) => e instanceof ScenarioError && c.want.test(e.message),
      );
    });
  }
});
