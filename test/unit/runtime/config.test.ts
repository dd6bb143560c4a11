import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, parseConfig } from '../../../src/runtime/config.js';

describe('config', () => {
  it('an empty file yields defaults', () => {
    const c = parseConfig('c.yaml', '');
    assert.equal(c.redis.keyPrefix, 'spire-healer');
    assert.equal(c.intervals.monitorMs, 5_000);
    assert.equal(c.analyze.rotateAtFraction, 0.5);
  });

  it('targets are normalised into workloads', () => {
    const c = parseConfig(
      'c.yaml',
      [
        'targets:',
        '  - id: shop/web-0',
        '    spiffeId: spiffe://example.org/ns/shop/sa/web',
        '    location: shop',
        '    envoyAdmin: http://10.0.0.5:9901/',
      ].join('\n'),
    );
    assert.deepEqual(c.targets[0], {
      id: 'shop/web-0',
      spiffeId: 'spiffe://example.org/ns/shop/sa/web',
      trustDomain: 'example.org',
      platform: 'kubernetes',
      location: 'shop',
      envoyAdminUrl: 'http://10.0.0.5:9901',
    });
  });

  it('sources are parsed with durations in ms and only the configured ones present', () => {
    const c = parseConfig(
      'c.yaml',
      [
        'sources:',
        '  spire: { trustDomain: example.org, server: "tcp://127.0.0.1:8081", agents: [{ node: n1, adminEndpoint: "unix:///run/spire/admin.sock" }], pollInterval: 3s }',
        '  cloudRun: { endpoint: "127.0.0.1:9000", insecure: true, locations: [{ project: acme, location: europe-west1 }] }',
      ].join('\n'),
    );
    assert.deepEqual(c.sources.spire, {
      trustDomain: 'example.org',
      server: 'tcp://127.0.0.1:8081',
      agents: [{ node: 'n1', adminEndpoint: 'unix:///run/spire/admin.sock' }],
      delegatedIdentity: true,
      pollIntervalMs: 3_000,
    });
    assert.deepEqual(c.sources.cloudRun, {
      endpoint: '127.0.0.1:9000',
      insecure: true,
      locations: [{ project: 'acme', location: 'europe-west1' }],
      pollIntervalMs: 15_000,
    });
    assert.equal(c.sources.kubernetes, undefined);
  });

  it('a Cloud Run bundle secret and the Secret Manager endpoint are carried to the sources', () => {
    const c = parseConfig(
      'c.yaml',
      [
        'sources:',
        '  cloudRun:',
        '    locations: [{ project: acme, location: europe-west1 }]',
        '    bundleSecret: projects/acme/secrets/spire-bundle',
        '    secretManagerEndpoint: "127.0.0.1:9001"',
      ].join('\n'),
    );
    assert.equal(c.sources.cloudRun?.bundleSecret, 'projects/acme/secrets/spire-bundle');
    assert.equal(c.sources.cloudRun.secretManagerEndpoint, '127.0.0.1:9001');
  });

  const bad: Record<string, { text: string; want: RegExp }> = {
    'a SPIRE endpoint that is not a SPIFFE endpoint URI is named': {
      text: 'sources:\n  spire:\n    trustDomain: example.org\n    server: /run/spire/api.sock\n',
      want: /c\.yaml:4:13: sources\.spire\.server: expected a SPIFFE endpoint/,
    },
    'a Cloud Run source without locations is named': {
      text: 'sources:\n  cloudRun:\n    locations: []\n',
      want: /sources\.cloudRun\.locations: /i,
    },
    'a Cloud Run bundle secret that is not a secret name is named': {
      text: 'sources:\n  cloudRun:\n    locations: [{ project: acme, location: europe-west1 }]\n    bundleSecret: acme/spire-bundle\n',
      want: /^c\.yaml:4:19: sources\.cloudRun\.bundleSecret: expected projects\/<project>\/secrets\/<secret>, e\.g\. projects\/acme\/secrets\/spire-bundle$/,
    },
    'a Cloud Run bundle secret outside the configured projects is refused (least privilege)': {
      text: 'sources:\n  cloudRun:\n    locations: [{ project: acme, location: europe-west1 }]\n    bundleSecret: projects/other/secrets/spire-bundle\n',
      want: /^c\.yaml:4:19: sources\.cloudRun\.bundleSecret: the secret's project other is not one of the configured Cloud Run projects \(acme\)/,
    },
    'a bad bundle ConfigMap name is named': {
      text: 'sources:\n  kubernetes: { bundleConfigMap: spire-bundle }\n',
      want: /sources\.kubernetes\.bundleConfigMap: expected namespace\/name/,
    },
    'an unknown key names the key and its line': {
      text: 'redis:\n  url: redis://x:6379\n  prefx: a\n',
      want: /^c\.yaml:3:3: redis\.prefx: .*unrecognized/im,
    },
    'a wrong type names the key': { text: 'monitor:\n  concurrency: lots\n', want: /c\.yaml:2:16: monitor\.concurrency: .*number/i },
    'a bad duration names the key': {
      text: 'intervals:\n  monitor: soon\n',
      want: /c\.yaml:2:12: intervals\.monitor: expected a duration/,
    },
    'a bad SPIFFE id names the target field': {
      text: 'targets:\n  - id: a\n    spiffeId: http://x\n    location: l\n    envoyAdmin: http://e:1\n',
      want: /targets\.0\.spiffeId: expected a SPIFFE ID/,
    },
    'broken YAML names the line': { text: 'redis: [\n', want: /c\.yaml:\d+:\d+: / },
  };
  for (const [name, c] of Object.entries(bad)) {
    it(name, () => {
      assert.throws(
        () => parseConfig('c.yaml', c.text),
        (e: unknown) => {
          assert.ok(e instanceof ConfigError);
          assert.match(e.message, c.want);
          return true;
        },
      );
    });
  }
});

describe('shipped config and playbooks', () => {
  it('deploy/config.yaml and its playbooks are valid', async () => {
    const { loadConfig } = await import('../../../src/runtime/config.js');
    const { loadPlaybooks } = await import('../../../src/runtime/playbook-loader.js');
    const c = await loadConfig('deploy/config.yaml');
    assert.equal(c.targets.length, 0);
    assert.deepEqual(c.sources.kubernetes, { bundleConfigMap: 'spire/spire-bundle', spireNamespace: 'spire' });
    assert.equal(c.sources.spire?.trustDomain, 'example.org');
    assert.equal(c.sources.spire.pollIntervalMs, 10_000);
    const pbs = await loadPlaybooks(c.playbooks);
    assert.deepEqual(
      pbs.map((p) => p.name),
      ['rotation-failed', 'agent-disconnected', 'trust-bundle-drift', 'mtls-errors', 'cloudrun-revision-not-ready'],
    );
  });

  it('a playbook file with a wrong type, an unknown action and a bad duration reports all three with line:column', async () => {
    const { parsePlaybooks } = await import('../../../src/plan/playbooks/parse-playbooks.js');
    const text = [
      'playbooks:',
      '  - name: p',
      '    mode: auto',
      '    match: { types: [rotation_failed] }',
      '    steps:',
      '      - action: reboot_cluster',
      '        timeout: 10 minutes',
      '      - action: restart_envoy',
      '        attempts: many',
    ].join('\n');
    const res = parsePlaybooks('pb.yaml', text);
    assert.equal(res.ok, false);
    const lines = res.problems.map((p) => `${p.line}:${p.column} ${p.path}`);
    assert.deepEqual(lines.sort(), [
      '6:17 playbooks.0.steps.0.action',
      '7:18 playbooks.0.steps.0.timeout',
      '9:19 playbooks.0.steps.1.attempts',
    ]);
  });
});
