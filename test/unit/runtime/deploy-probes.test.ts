/**
 * deploy/deployment.yaml probes what the daemon serves: readiness on /readyz (Redis reachable, no
 * stage stalled), liveness on /livez (the process answers), so a healer waiting for Redis is taken
 * out of rotation but never restarted for it.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';

interface Container {
  readonly readinessProbe?: { readonly httpGet?: { readonly path?: string } };
  readonly livenessProbe?: { readonly httpGet?: { readonly path?: string } };
}

describe('deploy/deployment.yaml probes', () => {
  it('readiness on /readyz, liveness on /livez', () => {
    const d = parse(readFileSync('deploy/deployment.yaml', 'utf8')) as { spec: { template: { spec: { containers: Container[] } } } };
    const probes = d.spec.template.spec.containers.map((c) => [c.readinessProbe?.httpGet?.path, c.livenessProbe?.httpGet?.path]);
    assert.deepEqual(probes, [['/readyz', '/livez']]);
  });
});
