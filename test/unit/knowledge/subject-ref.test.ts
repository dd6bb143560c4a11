import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  agentNodeOf,
  agentSubject,
  cloudRunLocationSubject,
  configMapOf,
  configMapSubject,
  FLEET_SUBJECT,
  formatSubject,
  kubernetesResourceSubject,
  parseSubject,
  secretNameOf,
  secretSubject,
  trustDomainOf,
  trustDomainSubject,
  type SubjectRef,
} from '../../../src/knowledge/subject-ref.js';

const segment = fc.stringMatching(/^[a-z0-9][a-z0-9.-]{0,20}$/);
const secretName = fc.tuple(segment, segment).map(([p, s]) => `projects/${p}/secrets/${s}`);

/** Every well-formed reference. */
const subjectRef: fc.Arbitrary<SubjectRef> = fc.oneof(
  fc.tuple(segment, segment).map(([ns, name]): SubjectRef => ({ kind: 'workload', id: `${ns}/${name}` })),
  fc.tuple(segment, segment, segment).map(([p, r, s]): SubjectRef => ({ kind: 'workload', id: `${p}/${r}/${s}` })),
  segment.map((node): SubjectRef => ({ kind: 'agent', node })),
  segment.map((trustDomain): SubjectRef => ({ kind: 'trust-domain', trustDomain })),
  fc.tuple(segment, segment).map(([namespace, name]): SubjectRef => ({ kind: 'configmap', namespace, name })),
  fc.oneof(segment, secretName).map((name): SubjectRef => ({ kind: 'secret', name })),
  fc.constant<SubjectRef>({ kind: 'fleet' }),
  segment.map((resource): SubjectRef => ({ kind: 'kubernetes-resource', resource })),
  fc.tuple(segment, segment).map(([project, location]): SubjectRef => ({ kind: 'cloudrun-location', project, location })),
);

describe('subject references', () => {
  it('round-trips: parse(format(ref)) is ref for every well-formed reference', () => {
    fc.assert(
      fc.property(subjectRef, (ref) => {
        assert.deepEqual(parseSubject(formatSubject(ref)), ref);
      }),
    );
  });

  it('round-trips: format(parse(s)) is s for every string that parses', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), subjectRef.map(formatSubject)), (s) => {
        const ref = parseSubject(s);
        if (ref !== null) assert.equal(formatSubject(ref), s);
      }),
    );
  });

  it('reads each form used today', () => {
    const cases: Record<string, SubjectRef> = {
      'shop/web-1': { kind: 'workload', id: 'shop/web-1' },
      'proj-1/europe-west1/checkout': { kind: 'workload', id: 'proj-1/europe-west1/checkout' },
      'agent:node-1': { kind: 'agent', node: 'node-1' },
      'trust-domain:example.org': { kind: 'trust-domain', trustDomain: 'example.org' },
      'configmap:spire/spire-bundle': { kind: 'configmap', namespace: 'spire', name: 'spire-bundle' },
      'secret:projects/p/secrets/spire-bundle': { kind: 'secret', name: 'projects/p/secrets/spire-bundle' },
      fleet: { kind: 'fleet' },
      'kubernetes:pods': { kind: 'kubernetes-resource', resource: 'pods' },
      'cloudrun:proj-1/europe-west1': { kind: 'cloudrun-location', project: 'proj-1', location: 'europe-west1' },
    };
    for (const [s, want] of Object.entries(cases)) assert.deepEqual(parseSubject(s), want, s);
  });

  it('rejects garbage with null', () => {
    for (const s of [
      '',
      ' ',
      'agent:',
      'agent:a b',
      'agent:a/b',
      'trust-domain:',
      'configmap:spire',
      'configmap:a/b/c',
      'secret:',
      'web-1',
      'a/b/c/d',
      'a//b',
      'pod:x/y',
      'cloudrun:p',
    ])
      assert.equal(parseSubject(s), null, JSON.stringify(s));
  });

  it('constructors and accessors agree with the union', () => {
    assert.equal(agentSubject('n1'), 'agent:n1');
    assert.equal(trustDomainSubject('example.org'), 'trust-domain:example.org');
    assert.equal(configMapSubject('spire', 'spire-bundle'), 'configmap:spire/spire-bundle');
    assert.equal(secretSubject('projects/p/secrets/s'), 'secret:projects/p/secrets/s');
    assert.equal(kubernetesResourceSubject('pods'), 'kubernetes:pods');
    assert.equal(cloudRunLocationSubject('p', 'r'), 'cloudrun:p/r');
    assert.equal(FLEET_SUBJECT, 'fleet');
    assert.equal(agentNodeOf('agent:n1'), 'n1');
    assert.equal(agentNodeOf('agent:'), null);
    assert.equal(agentNodeOf('shop/web-1'), null);
    assert.equal(trustDomainOf('trust-domain:example.org'), 'example.org');
    assert.equal(trustDomainOf('agent:n1'), null);
    assert.equal(secretNameOf('secret:projects/p/secrets/s'), 'projects/p/secrets/s');
    assert.deepEqual(configMapOf('configmap:spire/spire-bundle'), { namespace: 'spire', name: 'spire-bundle' });
    assert.equal(configMapOf('trust-domain:example.org'), null);
  });
});
