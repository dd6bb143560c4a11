import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { defaultAnalyzeThresholds, type AnalysisInput, type AnalyzeConfig } from '../../../src/analyze/analysis-input.js';
import { evaluate } from '../../../src/analyze/evaluate.js';
import type { Observation } from '../../../src/knowledge/model/observation.js';
import type { Workload } from '../../../src/knowledge/model/workload.js';
import { normalizeSerial } from '../../../src/knowledge/serial-number.js';
import { cert, delegatedSvidObservation, observationMap, workload } from '../../builders/observations.js';

const T0 = 1_800_000_000_000;
const TTL = 60_000;
const config: AnalyzeConfig = {
  ...defaultAnalyzeThresholds,
  rotation: { rotateAtFraction: 0.5, graceMs: 1_000 },
  staleAfterMs: 3_000,
  agentSyncStaleMs: 10_000,
  agentDownForMs: 5_000,
  bundleDriftGraceMs: 20_000,
  mtlsWindowMs: 30_000,
  cloudRunNotReadyForMs: 5_000,
  healthyForMs: 0,
};
const input = (workloads: Workload[], ...obs: Observation[]): AnalysisInput => ({
  now: T0,
  workloads,
  observations: observationMap(...obs),
  openIncidents: [],
  config,
});
const opened = (i: AnalysisInput): string[] =>
  evaluate(i)
    .open.map((x) => `${x.type} ${x.subject}`)
    .sort();

const agentObs = (node: string, lastSync: number, since = T0): Observation => ({
  subject: `agent:${node}`,
  source: 'spire.agent.debug',
  observedAt: T0,
  stateSince: since,
  data: {
    kind: 'spire.agent',
    node,
    agentId: `spiffe://example.org/agent/${node}`,
    lastSyncSuccessMs: lastSync,
    agentSvidExpiresAtMs: T0 + 3_600_000,
    cachedX509Svids: 3,
  },
});
const agentDown = (node: string, since: number): Observation => ({
  subject: `agent:${node}`,
  source: 'spire.agent.debug',
  observedAt: T0,
  stateSince: since,
  data: { kind: 'probe.error', probe: 'spire.agent.debug', endpoint: 'unix:///x', error: 'Debug/GetInfo: UNAVAILABLE' },
});
// Serials as the adapters hand them to the model: each wire spelling normalised where it was read.
const serverBundle = (serials: string[], since: number): Observation => ({
  subject: 'trust-domain:example.org',
  source: 'spire.server.bundle',
  observedAt: T0,
  stateSince: since,
  data: {
    kind: 'spire.bundle',
    trustDomain: 'example.org',
    sequenceNumber: String(serials.length),
    authorities: serials.map((s) => ({ serialNumber: normalizeSerial(s), expiresAtMs: T0 + 1e9 })),
    active: 'a',
    prepared: null,
    old: null,
  },
});
const configMap = (serials: string[]): Observation => ({
  subject: 'configmap:spire/spire-bundle',
  source: 'k8s.bundle',
  observedAt: T0,
  data: {
    kind: 'k8s.bundle',
    configMap: 'spire/spire-bundle',
    certificates: serials.map((s) => ({ serialNumber: normalizeSerial(s), expiresAtMs: T0 + 1e9 })),
    problems: [],
  },
});
const secretBundle = (serials: string[], version = '1'): Observation => ({
  subject: 'secret:projects/acme/secrets/spire-bundle',
  source: 'cloudrun.bundle',
  observedAt: T0,
  data: {
    kind: 'cloudrun.bundle',
    secret: 'projects/acme/secrets/spire-bundle',
    version,
    certificates: serials.map((s) => ({ serialNumber: normalizeSerial(s), expiresAtMs: T0 + 1e9 })),
    problems: [],
  },
});
const envoyCerts = (id: string, caSerials: string[], leafFrom = T0 - 1_000): Observation => ({
  subject: id,
  source: 'envoy.certs',
  observedAt: T0,
  data: {
    kind: 'envoy.certs',
    chain: [cert('11', leafFrom, TTL)],
    caCerts: caSerials.map((s) => ({ serialNumber: normalizeSerial(s), uriSans: [], validFromMs: 0, expiresAtMs: T0 + 1e9 })),
  },
});
const envoyStats = (
  id: string,
  c: { handshake: number; connErr?: number; verify?: number; notReady?: number },
  since: number,
): Observation => ({
  subject: id,
  source: 'envoy.stats',
  observedAt: T0,
  stateSince: since,
  data: {
    kind: 'envoy.stats',
    sds: [],
    secretsNotReady: c.notReady ?? 0,
    serverState: 0,
    ssl: [
      {
        scope: 'listener.0.0.0.0_15001',
        handshake: c.handshake,
        connectionError: c.connErr ?? 0,
        failVerifyError: c.verify ?? 0,
        failVerifySan: 0,
        noCertificate: 0,
      },
    ],
  },
});
const sdsFailing = (id: string, since: number): Observation => ({
  subject: id,
  source: 'envoy.stats',
  observedAt: T0,
  stateSince: since,
  data: {
    kind: 'envoy.stats',
    ssl: [],
    secretsNotReady: 0,
    serverState: 0,
    sds: [
      {
        secret: 's',
        updateSuccess: 1,
        updateRejected: 0,
        updateFailure: 4,
        initFetchTimeout: 0,
        keyRotationFailed: 0,
        updateTimeMs: T0 - 9_000,
      },
    ],
  },
});
const runService = (id: string, ready: boolean, since: number): Observation => ({
  subject: id,
  source: 'cloudrun.service',
  observedAt: T0,
  stateSince: since,
  data: {
    kind: 'cloudrun.service',
    service: `projects/p/locations/l/services/${id}`,
    ready,
    latestCreatedRevision: 'r2',
    latestReadyRevision: 'r1',
    notReady: ready ? [] : ['Ready is CONDITION_FAILED: probe failed'],
  },
});

/** A rollout in progress (not failed) while r1 still serves. */
const rollingOut = (id: string, since: number): Observation => {
  const o = runService(id, false, since);
  return {
    ...o,
    data: {
      ...o.data,
      kind: 'cloudrun.service',
      service: `projects/p/locations/l/services/${id}`,
      ready: false,
      latestCreatedRevision: 'r2',
      latestReadyRevision: 'r1',
      notReady: ['a rollout is in progress (reconciling)', 'latestReadyRevision "r1" is not latestCreatedRevision "r2"'],
    },
  };
};

const web = workload('shop/web-0', { node: 'n1' });
const api = workload('shop/api-0', { node: 'n2' });

describe('detectors, keyed by the sentence they implement', () => {
  const cases: Record<string, { input: AnalysisInput; want: string[] }> = {
    'an agent that synced recently is healthy': { input: input([web], agentObs('n1', T0 - 2_000)), want: [] },
    'an agent whose last sync is older than the limit has lost its server': {
      input: input([web], agentObs('n1', T0 - 11_000)),
      want: ['agent_disconnected agent:n1'],
    },
    'an agent the server has banned is disconnected, whatever its Debug API says': {
      input: input([web], agentObs('n1', T0 - 1_000), {
        subject: 'agent:n1',
        source: 'spire.server.agent',
        observedAt: T0,
        data: {
          kind: 'spire.server.agent',
          node: 'n1',
          agentId: 'spiffe://example.org/agent/n1',
          banned: true,
          canReattest: true,
          svidExpiresAtMs: T0 + 60_000,
        },
      }),
      want: ['agent_disconnected agent:n1'],
    },
    'an agent whose SVID expired and that may not re-attest is disconnected': {
      input: input([web], {
        subject: 'agent:n1',
        source: 'spire.server.agent',
        observedAt: T0,
        data: { kind: 'spire.server.agent', node: 'n1', agentId: 'a', banned: false, canReattest: false, svidExpiresAtMs: T0 - 1 },
      }),
      want: ['agent_disconnected agent:n1'],
    },
    'an agent whose SVID expired but that can re-attest is left to re-attest': {
      input: input([web], {
        subject: 'agent:n1',
        source: 'spire.server.agent',
        observedAt: T0,
        data: { kind: 'spire.server.agent', node: 'n1', agentId: 'a', banned: false, canReattest: true, svidExpiresAtMs: T0 - 1 },
      }),
      want: [],
    },
    'Envoys on a node whose SDS fetches keep failing show the agent is down, even without its admin socket': {
      input: input([web, workload('shop/web-9', { node: 'n1' })], sdsFailing(web.id, T0 - 500), sdsFailing('shop/web-9', T0 - 800)),
      want: ['agent_disconnected agent:n1'],
    },
    'one Envoy of two with failing SDS fetches is that Envoy, not the agent': {
      input: input([web, workload('shop/web-9', { node: 'n1' })], sdsFailing(web.id, T0 - 500)),
      want: [],
    },
    'a rotation failure waits until the monitored agent was read after the rotation deadline': {
      input: input([web], envoyCerts(web.id, ['a'], T0 - 40_000), { ...agentObs('n1', T0 - 40_000), observedAt: T0 - 20_000 }),
      want: [],
    },
    'once the agent was read after the deadline and is healthy, the rotation failure opens': {
      input: input([web], envoyCerts(web.id, ['a'], T0 - 40_000), { ...agentObs('n1', T0 - 1_000), observedAt: T0 - 500 }),
      want: ['rotation_failed shop/web-0'],
    },
    "a rotation failure waits while the agent's fresh view of the SVID was recorded before the rotation deadline": {
      input: input(
        [web],
        { ...envoyCerts(web.id, ['a'], T0 - 32_000) },
        delegatedSvidObservation(web.id, T0 - 2_000, 'n1', cert('11', T0 - 32_000, TTL)),
      ),
      want: [],
    },
    "once the agent's view of the SVID was recorded after the deadline, the rotation failure opens": {
      input: input(
        [web],
        { ...envoyCerts(web.id, ['a'], T0 - 32_000) },
        delegatedSvidObservation(web.id, T0 - 500, 'n1', cert('11', T0 - 32_000, TTL)),
      ),
      want: ['rotation_failed shop/web-0'],
    },
    'silence is not evidence: a view of the SVID received before the deadline holds the failure back while the monitor confirms (up to staleAfter past the deadline)':
      {
        input: input(
          [web],
          { ...envoyCerts(web.id, ['a'], T0 - 32_000) },
          delegatedSvidObservation(web.id, T0 - 4_000, 'n1', cert('11', T0 - 32_000, TTL)),
        ),
        want: [],
      },
    "with no confirmation staleAfter past the deadline, Envoy's evidence alone opens the failure": {
      input: input(
        [web],
        { ...envoyCerts(web.id, ['a'], T0 - 36_000) },
        delegatedSvidObservation(web.id, T0 - 6_000, 'n1', cert('a', T0 - 36_000, TTL)),
      ),
      want: ['rotation_failed shop/web-0'],
    },
    'a stream message received after the rotation point, not the first of a subscription, is not evidence on its own': {
      input: input([web], delegatedSvidObservation(web.id, T0, 'n1', cert('22', T0 - 40_000, TTL))),
      want: [],
    },
    'the first message of a subscription opened after the rotation point confirms an agent that did not rotate': {
      input: input([web], delegatedSvidObservation(web.id, T0, 'n1', cert('22', T0 - 40_000, TTL), T0 - 200)),
      want: ['rotation_failed shop/web-0'],
    },
    'the first message of a subscription opened before the rotation point confirms nothing': {
      input: input([web], delegatedSvidObservation(web.id, T0, 'n1', cert('22', T0 - 40_000, TTL), T0 - 10_000)),
      want: [],
    },
    'an Envoy serving the same overdue serial confirms what the stream received after the deadline': {
      input: input(
        [web],
        { ...envoyCerts(web.id, ['a'], T0 - 40_000) },
        delegatedSvidObservation(web.id, T0 - 500, 'n1', cert('11', T0 - 40_000, TTL)),
      ),
      want: ['rotation_failed shop/web-0'],
    },
    'an Envoy serving a newer serial than the stream reports proves the stream is behind, not the agent: nothing opens': {
      input: input(
        [web],
        { ...envoyCerts(web.id, ['a'], T0 - 5_000) },
        delegatedSvidObservation(web.id, T0 - 500, 'n1', cert('22', T0 - 40_000, TTL), T0 - 600),
      ),
      want: [],
    },
    'an agent whose /ready has failed for longer than agentDownFor is disconnected': {
      input: input([web], agentObs('n1', T0 - 1_000), {
        subject: 'agent:n1',
        source: 'spire.agent.health',
        observedAt: T0,
        stateSince: T0 - 6_000,
        data: { kind: 'spire.health', node: 'n1', healthy: false, status: 500, failing: ['agent'] },
      }),
      want: ['agent_disconnected agent:n1'],
    },
    'a /ready that just failed is not yet a disconnect': {
      input: input([web], agentObs('n1', T0 - 1_000), {
        subject: 'agent:n1',
        source: 'spire.agent.health',
        observedAt: T0,
        stateSince: T0 - 1_000,
        data: { kind: 'spire.health', node: 'n1', healthy: false, status: 500, failing: ['agent'] },
      }),
      want: [],
    },
    'one failed Debug poll is not a disconnect': { input: input([web], agentDown('n1', T0 - 1_000)), want: [] },
    'an agent unreachable for longer than agentDownFor is disconnected': {
      input: input([web], agentDown('n1', T0 - 6_000)),
      want: ['agent_disconnected agent:n1'],
    },
    "a ConfigMap that lacks the server's new CA drifts once the bundle is stable": {
      input: input([], serverBundle(['a', 'b'], T0 - 30_000), configMap(['a'])),
      want: ['trust_bundle_drift configmap:spire/spire-bundle'],
    },
    'inside the rotation grace a lagging ConfigMap is not drift yet': {
      input: input([], serverBundle(['a', 'b'], T0 - 5_000), configMap(['a'])),
      want: [],
    },
    "a Cloud Run bundle secret that lacks the server's new CA drifts once the bundle is stable": {
      input: input([], serverBundle(['a', 'b'], T0 - 30_000), secretBundle(['a'])),
      want: ['trust_bundle_drift secret:projects/acme/secrets/spire-bundle'],
    },
    'inside the rotation grace a lagging bundle secret is not drift yet': {
      input: input([], serverBundle(['a', 'b'], T0 - 5_000), secretBundle(['a'])),
      want: [],
    },
    'a bundle secret with no readable version drifts': {
      input: input([], serverBundle(['a'], T0 - 30_000), {
        ...secretBundle([]),
        data: {
          kind: 'cloudrun.bundle',
          secret: 'projects/acme/secrets/spire-bundle',
          version: null,
          certificates: [],
          problems: ['no readable version'],
        },
      }),
      want: ['trust_bundle_drift secret:projects/acme/secrets/spire-bundle'],
    },
    "a bundle secret that holds the server's CA set (any case) is not drift": {
      input: input([], serverBundle(['0A', 'b'], T0 - 30_000), secretBundle(['b', 'a'])),
      want: [],
    },
    'serials compare without case or leading zeros': {
      input: input([web], serverBundle(['0AB'], T0 - 30_000), configMap(['ab']), envoyCerts(web.id, ['00ab'])),
      want: [],
    },
    'one Envoy with an old validation context drifts on its own': {
      input: input([web, api], serverBundle(['a', 'b'], T0 - 30_000), envoyCerts(web.id, ['a']), envoyCerts(api.id, ['a', 'b'])),
      want: ['trust_bundle_drift shop/web-0'],
    },
    'rising handshake failures above 1% are mTLS errors': {
      input: input([web], envoyStats(web.id, { handshake: 100, connErr: 5 }, T0 - 1_000)),
      want: ['mtls_errors shop/web-0'],
    },
    'failures that stopped rising outside the window are history': {
      input: input([web], envoyStats(web.id, { handshake: 100, connErr: 5 }, T0 - 60_000)),
      want: [],
    },
    'failures under the ratio are noise': {
      input: input([web], envoyStats(web.id, { handshake: 1_000, connErr: 5 }, T0 - 1_000)),
      want: [],
    },
    'connections reset for lack of a certificate are mTLS errors': {
      input: input([web], envoyStats(web.id, { handshake: 0, notReady: 4 }, T0 - 1_000)),
      want: ['mtls_errors shop/web-0'],
    },
    'a Cloud Run service not ready for longer than the limit opens an incident': {
      input: input([], runService('p/l/pay', false, T0 - 6_000)),
      want: ['cloudrun_revision_not_ready p/l/pay'],
    },
    'a Cloud Run service not ready for a moment does not': { input: input([], runService('p/l/pay', false, T0 - 1_000)), want: [] },
    'a rollout in progress with a ready revision serving gets the rollout allowance': {
      input: input([], rollingOut('p/l/pay', T0 - 6_000)),
      want: [],
    },
    'a rollout still in progress past the allowance opens an incident': {
      input: input([], rollingOut('p/l/pay', T0 - 26_000)),
      want: ['cloudrun_revision_not_ready p/l/pay'],
    },
    'more than two rejected SDS updates of the SVID are a failed rotation': {
      input: input([web], {
        subject: web.id,
        source: 'envoy.stats',
        observedAt: T0,
        stateSince: T0 - 1_000,
        data: {
          kind: 'envoy.stats',
          ssl: [],
          secretsNotReady: 0,
          serverState: 0,
          sds: [
            {
              secret: 'spiffe_//example.org/ns/shop/sa/web',
              updateSuccess: 4,
              updateRejected: 3,
              updateFailure: 0,
              initFetchTimeout: 0,
              keyRotationFailed: 0,
              updateTimeMs: T0 - 9_000,
            },
          ],
        },
      }),
      want: ['rotation_failed shop/web-0'],
    },
    'two rejected SDS updates are not yet a failed rotation': {
      input: input([web], {
        subject: web.id,
        source: 'envoy.stats',
        observedAt: T0,
        stateSince: T0 - 1_000,
        data: {
          kind: 'envoy.stats',
          ssl: [],
          secretsNotReady: 0,
          serverState: 0,
          sds: [
            {
              secret: 's',
              updateSuccess: 4,
              updateRejected: 2,
              updateFailure: 0,
              initFetchTimeout: 0,
              keyRotationFailed: 0,
              updateTimeMs: T0 - 9_000,
            },
          ],
        },
      }),
      want: [],
    },
    'an agent SVID the agent never rotated, confirmed by a fresh subscription, is a rotation failure at the agent': {
      input: input([web], {
        subject: web.id,
        source: 'spire.delegated.svid',
        observedAt: T0,
        data: { kind: 'spire.svid', node: 'n1', svid: cert('22', T0 - 40_000, TTL), subscribedAtMs: T0 - 100 },
      }),
      want: ['rotation_failed shop/web-0'],
    },
  };
  for (const [sentence, c] of Object.entries(cases)) {
    it(sentence, () => {
      assert.deepEqual(opened(c.input), c.want);
    });
  }

  it('the agent-side explanation says restarting Envoy cannot help', () => {
    const d = evaluate(
      input([web], {
        subject: web.id,
        source: 'spire.delegated.svid',
        observedAt: T0,
        data: { kind: 'spire.svid', node: 'n1', svid: cert('22', T0 - 40_000, TTL), subscribedAtMs: T0 - 100 },
      }),
    );
    assert.match(
      d.open[0]?.explanation ?? '',
      /SPIRE agent on n1 still holds the SVID of shop\/web-0 .*: SVID serial 22, .* restarting Envoy cannot help/,
    );
  });
});

describe('correlation to the root cause', () => {
  it('40 workloads behind 2 broken agents are 2 agent incidents, not 40 workload incidents', () => {
    const behind = Array.from({ length: 40 }, (_, i) => workload(`shop/web-${i}`, { node: i % 2 === 0 ? 'n1' : 'n2' }));
    const healthyOnes = Array.from({ length: 40 }, (_, i) => workload(`shop/api-${i}`, { node: 'n3' }));
    const workloads = [...behind, ...healthyOnes];
    const stale = behind.map((w) => envoyCerts(w.id, [], T0 - 40_000));
    const d = evaluate(input(workloads, agentObs('n1', T0 - 30_000), agentDown('n2', T0 - 10_000), ...stale));
    assert.deepEqual(d.open.map((x) => `${x.type} ${x.subject}`).sort(), ['agent_disconnected agent:n1', 'agent_disconnected agent:n2']);
    for (const inc of d.open) {
      assert.equal(inc.affects?.length, 20);
      assert.match(inc.explanation, /It explains 20 other symptom\(s\)/);
    }
  });

  it('correlation does not depend on the order of observations', () => {
    const workloads = Array.from({ length: 6 }, (_, i) => workload(`shop/web-${i}`, { node: 'n1' }));
    const obs = [agentObs('n1', T0 - 30_000), ...workloads.map((w) => envoyCerts(w.id, [], T0 - 40_000))];
    const a = opened(input(workloads, ...obs));
    const b = opened(input([...workloads].reverse(), ...[...obs].reverse()));
    assert.deepEqual(a, b);
    assert.deepEqual(a, ['agent_disconnected agent:n1']);
  });

  it('most Envoys drifting after a CA change is one trust-domain incident', () => {
    const workloads = Array.from({ length: 5 }, (_, i) => workload(`shop/web-${i}`, { node: 'n1' }));
    const d = evaluate(
      input(
        workloads,
        agentObs('n1', T0 - 1_000),
        serverBundle(['a', 'b'], T0 - 30_000),
        ...workloads.map((w, i) => envoyCerts(w.id, i < 4 ? ['a'] : ['a', 'b'])),
      ),
    );
    assert.deepEqual(
      d.open.map((x) => `${x.type} ${x.subject}`),
      ['trust_bundle_drift trust-domain:example.org'],
    );
    assert.deepEqual(d.open[0]?.affects, ['shop/web-0', 'shop/web-1', 'shop/web-2', 'shop/web-3']);
  });

  it("an agent distributing a stale bundle is one drift incident that owns its Envoys' drift", () => {
    const agentBundle: Observation = {
      subject: 'agent:n1',
      source: 'spire.agent.bundle',
      observedAt: T0,
      data: {
        kind: 'spire.agent.bundle',
        node: 'n1',
        trustDomain: 'example.org',
        certificates: [{ serialNumber: 'a', expiresAtMs: T0 + 1e9 }],
      },
    };
    const d = evaluate(
      input([web, api], serverBundle(['a', 'b'], T0 - 30_000), agentBundle, envoyCerts(web.id, ['a']), envoyCerts(api.id, ['a', 'b'])),
    );
    assert.deepEqual(
      d.open.map((x) => `${x.type} ${x.subject}`),
      ['trust_bundle_drift agent:n1'],
    );
    const [inc] = d.open;
    assert.ok(inc);
    assert.deepEqual(inc.affects, ['shop/web-0']);
    assert.match(inc.explanation, /agent on n1 distributes CA serials a, but/);
  });

  it('an Envoy failing verification because its own bundle drifted is one drift incident', () => {
    const d = evaluate(
      input(
        [web, api],
        serverBundle(['a', 'b'], T0 - 30_000),
        envoyCerts(web.id, ['a']),
        envoyCerts(api.id, ['a', 'b']),
        envoyStats(web.id, { handshake: 10, verify: 10 }, T0 - 500),
      ),
    );
    assert.deepEqual(
      d.open.map((x) => `${x.type} ${x.subject}`),
      ['trust_bundle_drift shop/web-0'],
    );
    assert.match(d.open[0]?.explanation ?? '', /already failed 10 peer certificate verification\(s\)/);
  });
});

describe('recovery', () => {
  it("a drift incident stays open through a new grace window and resolves only when the consumer trusts the server's CA set", () => {
    const first = evaluate(input([], serverBundle(['a', 'b'], T0 - 30_000), configMap(['a'])));
    const inc = first.open[0];
    assert.ok(inc);
    const later = (o: Observation): Observation => ({ ...o, observedAt: T0 + 1_000 });
    const after = (...obs: Observation[]): AnalysisInput => ({ ...input([], ...obs.map(later)), now: T0 + 1_000, openIncidents: [inc] });
    // The server's state changed (CA activated): inside the new grace there is no finding, but the ConfigMap still lags.
    assert.deepEqual(evaluate(after({ ...serverBundle(['a', 'b'], T0 + 500) }, configMap(['a']))).resolve, []);
    const healed = evaluate(after(serverBundle(['a', 'b'], T0 + 500), configMap(['a', 'b']))).resolve;
    assert.equal(healed.length, 1);
    assert.match(healed[0]?.reason ?? '', /trust bundle drift on configmap:spire\/spire-bundle is over/);
  });
});

describe('recovery of the Cloud Run bundle secret', () => {
  it("resolves when the secret's latest version holds the server's CA set again, not before", () => {
    const first = evaluate(input([], serverBundle(['a', 'b'], T0 - 30_000), secretBundle(['a'])));
    const inc = first.open[0];
    assert.equal(inc?.cause, 'secret_bundle_stale');
    assert.ok(inc);
    const after = (...obs: Observation[]): AnalysisInput => ({
      ...input([], ...obs.map((o) => ({ ...o, observedAt: T0 + 1_000 }))),
      now: T0 + 1_000,
      openIncidents: [inc],
    });
    assert.deepEqual(evaluate(after(serverBundle(['a', 'b'], T0 - 30_000), secretBundle(['a']))).resolve, []);
    const healed = evaluate(after(serverBundle(['a', 'b'], T0 - 30_000), secretBundle(['a', 'b'], '2'))).resolve;
    assert.equal(healed.length, 1);
    assert.match(healed[0]?.reason ?? '', /secret:projects\/acme\/secrets\/spire-bundle is over/);
  });
});

describe('fleet storm', () => {
  const many = Array.from({ length: 24 }, (_, i) => workload(`shop/web-${i}`, { node: `n${i}` }));
  const overdueCerts = (w: Workload): Observation => envoyCerts(w.id, [], T0 - 40_000);
  it('more than half the fleet with symptoms is one fleet_storm that lists its causes; the causes stay open', () => {
    const d = evaluate(input(many, ...many.slice(0, 13).map(overdueCerts)));
    const storm = d.open.find((i) => i.type === 'fleet_storm');
    assert.ok(storm, d.open.map((x) => `${x.type} ${x.subject}`).join(', '));
    assert.match(storm.explanation, /13 of 24 workloads \(54%, limit 50%\)/);
    assert.equal(storm.affects?.length, 13);
    assert.equal(d.open.filter((i) => i.type === 'rotation_failed').length, 13);
    assert.ok(
      d.open.filter((i) => i.type === 'rotation_failed').every((i) => i.parent === storm.id),
      'each child points to the storm',
    );
  });
  it('half the fleet or fewer is no storm', () => {
    assert.equal(
      evaluate(input(many, ...many.slice(0, 12).map(overdueCerts))).open.some((i) => i.type === 'fleet_storm'),
      false,
    );
  });
  it('an unreachable SPIRE server is a storm by itself', () => {
    const down: Observation = {
      subject: 'trust-domain:example.org',
      source: 'spire.server.bundle',
      observedAt: T0,
      stateSince: T0 - 6_000,
      data: { kind: 'probe.error', probe: 'spire.server.bundle', endpoint: 'tcp://x', error: 'Bundle/GetBundle: UNAVAILABLE' },
    };
    const d = evaluate(input([web], down));
    assert.deepEqual(
      d.open.map((i) => `${i.type} ${i.subject}`),
      ['fleet_storm fleet'],
    );
    assert.match(d.open[0]?.explanation ?? '', /SPIRE server has been unreachable for 6s/);
  });
});
