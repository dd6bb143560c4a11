import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  agentRecordMarkedSimulated,
  bundleMarkedSimulated,
  isMarkedSimulated,
  judgesFleet,
  PermanentActionError,
  scopeRefusal,
  SIMULATED_CA_RDN,
  SIMULATED_MARKER,
  workloadScopeRefusal,
  type ActionContext,
  type ActionScope,
} from '../../../src/execute/action.js';
import { platformScopeRefusal } from '../../../src/execute/actions/kube-events.js';
import { EnvoyAdminError } from '../../../src/adapters/envoy/admin-http.js';
import { ClassifiedError, retryClassOf } from '../../../src/knowledge/errors/classified-error.js';
import type { Workload } from '../../../src/knowledge/model/workload.js';
import type { EnvoyAdminPort, EnvoyServerInfo } from '../../../src/ports/envoy-admin.port.js';
import type { KubePod, KubernetesInventoryPort } from '../../../src/ports/kubernetes.port.js';
import type { SpireAgentRecord, SpireBundle } from '../../../src/ports/spire.port.js';
import { SIMULATED_MARKER as SIM_SIDE_MARKER } from '../../../src/sim/world-model.js';
import { SIMULATED_CA_RDN as SIM_SIDE_CA_RDN } from '../../../src/sim/certs.js';

const w = (over: Partial<Workload> = {}): Workload => ({
  id: 'shop/web-0',
  spiffeId: 'spiffe://example.org/ns/shop/sa/web',
  trustDomain: 'example.org',
  platform: 'kubernetes',
  location: 'shop',
  envoyAdminUrl: 'http://127.0.0.1:9901',
  ...over,
});
const scope = (over: Partial<ActionScope> = {}): ActionScope => ({
  production: false,
  simulated: false,
  trustDomains: [],
  namespaces: [],
  ...over,
});

describe('least privilege in code (table)', () => {
  // `marked`: whether the target, as read live, carries the simulated fleet's marker (undefined: not judged).
  const table: Record<string, { w?: Partial<Workload>; scope?: Partial<ActionScope>; marked?: boolean; want: RegExp | null }> = {
    'no limits': { want: null },
    'trust domain allowed': { scope: { trustDomains: ['example.org'] }, want: null },
    'trust domain outside': {
      scope: { trustDomains: ['prod.example'] },
      want: /trust domain example.org, outside the configured prod.example/,
    },
    'namespace outside': { scope: { namespaces: ['payments'] }, want: /namespace shop, outside the configured payments/ },
    'Cloud Run ignores the namespace list': {
      w: { platform: 'cloudrun', location: 'p/r' },
      scope: { namespaces: ['payments'] },
      want: null,
    },
    // The four combinations of run (production / simulation) and target (marked / not).
    'production refuses a target marked simulated': {
      scope: { production: true },
      marked: true,
      want: /^refused: shop\/web-0 belongs to the simulated fleet \(it carries spire-healer.io\/simulated\) and the config says production: true$/,
    },
    'production acts on an unmarked target': { scope: { production: true }, marked: false, want: null },
    'a simulation refuses an unmarked target': {
      scope: { simulated: true },
      marked: false,
      want: /^refused: shop\/web-0 does not carry the simulated fleet's marker spire-healer.io\/simulated; demo and simulate never touch real targets$/,
    },
    'a simulation acts on a marked target': { scope: { simulated: true }, marked: true, want: null },
    'production with simulated: false judges by the marker, not the config': {
      scope: { production: true, simulated: false },
      marked: true,
      want: /belongs to the simulated fleet/,
    },
    'neither production nor a simulation: the marker does not matter': { marked: true, want: null },
    'a simulation refuses an Envoy off loopback even when marked': {
      w: { envoyAdminUrl: 'http://10.0.3.7:9901' },
      scope: { simulated: true },
      marked: true,
      want: /not part of the simulated fleet/,
    },
  };
  for (const [name, t] of Object.entries(table)) {
    it(name, () => {
      const got = scopeRefusal(w(t.w), scope(t.scope), t.marked);
      if (t.want === null) assert.equal(got, null);
      else assert.match(got ?? '', t.want);
    });
  }
});

describe("the simulated fleet's marker on platform targets", () => {
  const agentPod = 'SPIRE agent pod spire/spire-agent-node-0';
  it('refuses the four combinations like scopeRefusal, naming the target', () => {
    assert.match(
      platformScopeRefusal(agentPod, { namespace: 'spire', simulated: true }, scope({ production: true })) ?? '',
      /^refused: SPIRE agent pod spire\/spire-agent-node-0 belongs to the simulated fleet/,
    );
    assert.equal(platformScopeRefusal(agentPod, { namespace: 'spire', simulated: false }, scope({ production: true })), null);
    assert.match(
      platformScopeRefusal(agentPod, { namespace: 'spire', simulated: false }, scope({ simulated: true })) ?? '',
      /^refused: SPIRE agent pod spire\/spire-agent-node-0 does not carry the simulated fleet's marker/,
    );
    assert.equal(platformScopeRefusal(agentPod, { namespace: 'spire', simulated: true }, scope({ simulated: true })), null);
  });
  it('judges nothing about the fleet when the call does not say (the target not read yet)', () => {
    assert.equal(platformScopeRefusal(agentPod, { namespace: 'spire' }, scope({ production: true })), null);
    assert.equal(platformScopeRefusal(agentPod, { namespace: 'spire' }, scope({ simulated: true })), null);
    assert.equal(judgesFleet(scope()), false);
    assert.equal(judgesFleet(scope({ production: true })), true);
    assert.equal(judgesFleet(scope({ simulated: true })), true);
    assert.equal(judgesFleet(undefined), false);
  });
  it('reads the marker off labels, agent records and CA subjects, as src/sim writes it', () => {
    assert.equal(SIM_SIDE_MARKER, SIMULATED_MARKER);
    assert.equal(SIM_SIDE_CA_RDN, SIMULATED_CA_RDN);
    assert.equal(isMarkedSimulated({ [SIMULATED_MARKER]: 'true', app: 'web' }), true);
    assert.equal(isMarkedSimulated({ [SIMULATED_MARKER]: 'false' }), false);
    assert.equal(isMarkedSimulated({}), false);
    assert.equal(isMarkedSimulated(undefined), false);
    const rec = (values: string[]): SpireAgentRecord => ({
      spiffeId: 'spiffe://example.org/spire/agent/k8s_psat/c/node-0',
      attestationType: 'k8s_psat',
      serialHex: '01',
      svidExpiresAtMs: 0,
      selectors: values.map((value) => ({ type: 'k8s_psat', value })),
      banned: false,
      canReattest: true,
      agentVersion: '1.11.0',
    });
    assert.equal(agentRecordMarkedSimulated(rec(['agent_node_name:node-0', `agent_pod_label:${SIMULATED_MARKER}:true`])), true);
    assert.equal(agentRecordMarkedSimulated(rec(['agent_node_name:node-0', 'agent_pod_label:app:spire-agent'])), false);
    const bundle = (...subjects: string[]): SpireBundle => ({
      trustDomain: 'example.org',
      refreshHintSeconds: 0,
      sequenceNumber: '1',
      x509Authorities: subjects.map((subject) => ({
        tainted: false,
        certificate: {
          serialHex: '01',
          sha256: '',
          subject,
          issuer: subject,
          uriSans: [],
          notBeforeMs: 0,
          notAfterMs: 0,
          isCa: true,
          der: new Uint8Array(),
        },
      })),
    });
    assert.equal(bundleMarkedSimulated(bundle('C=US, O=SPIFFE', `C=US, O=SPIFFE, ${SIMULATED_CA_RDN}, CN=example.org sim CA`)), true);
    assert.equal(bundleMarkedSimulated(bundle('C=US, O=SPIFFE', 'C=US, O=SPIFFE, OU=spire-healer.io/simulated-not')), false);
    assert.equal(bundleMarkedSimulated(bundle()), false);
  });
});

describe("a workload no platform port can read: judged by its Envoy's /server_info node.metadata", () => {
  /** A context whose Envoy answers /server_info with `metadata` (or rejects with `fail`), and whose Kubernetes port has `pod` (or none). */
  const ctxWith = (o: {
    metadata?: Record<string, string>;
    fail?: Error;
    pod?: Partial<KubePod>;
    scope: ActionScope;
  }): { ctx: ActionContext; reads: string[] } => {
    const reads: string[] = [];
    const envoy = {
      readServerInfo: (url: string): Promise<EnvoyServerInfo> => {
        reads.push(url);
        return o.fail !== undefined
          ? Promise.reject(o.fail)
          : Promise.resolve({ state: 'LIVE', uptimeSeconds: 1, version: '', nodeMetadata: o.metadata ?? {} });
      },
    } as unknown as EnvoyAdminPort;
    const kubernetes = {
      getPod: () => Promise.resolve(o.pod === undefined ? null : { labels: {}, ...o.pod }),
    } as unknown as KubernetesInventoryPort;
    return { ctx: { envoy, kubernetes, scope: o.scope } as unknown as ActionContext, reads };
  };
  const marked = { [SIMULATED_MARKER]: 'true' };

  it('production refuses an Envoy whose node metadata carries the marker; a simulation acts on it', async () => {
    const p = ctxWith({ metadata: marked, scope: scope({ production: true }) });
    assert.match((await workloadScopeRefusal(w(), p.ctx)) ?? '', /^refused: shop\/web-0 belongs to the simulated fleet/);
    assert.deepEqual(p.reads, ['http://127.0.0.1:9901']);
    assert.equal(await workloadScopeRefusal(w(), ctxWith({ metadata: marked, scope: scope({ simulated: true }) }).ctx), null);
  });

  it('production acts on an Envoy without it (or with another value); a simulation refuses it', async () => {
    for (const metadata of [{}, { [SIMULATED_MARKER]: 'false', team: 'pay' }]) {
      assert.equal(await workloadScopeRefusal(w(), ctxWith({ metadata, scope: scope({ production: true }) }).ctx), null);
      assert.match(
        (await workloadScopeRefusal(w(), ctxWith({ metadata, scope: scope({ simulated: true }) }).ctx)) ?? '',
        /does not carry the simulated fleet's marker/,
      );
    }
  });

  it('a readable pod decides alone, as do marked labels; Envoy is read only when the fleet is judged', async () => {
    const pod = ctxWith({ metadata: marked, pod: { labels: {} }, scope: scope({ production: true }) });
    assert.equal(await workloadScopeRefusal(w(), pod.ctx), null, "the pod is unmarked: its Envoy's metadata is not asked");
    assert.deepEqual(pod.reads, []);
    const labelled = ctxWith({ scope: scope({ production: true }) });
    assert.match((await workloadScopeRefusal(w({ labels: marked }), labelled.ctx)) ?? '', /belongs to the simulated fleet/);
    assert.deepEqual(labelled.reads, []);
    const neither = ctxWith({ metadata: marked, scope: scope() });
    assert.equal(await workloadScopeRefusal(w(), neither.ctx), null);
    assert.deepEqual(neither.reads, []);
  });

  it("an unreadable /server_info rejects (never a guess), keeping the port's failure class", async () => {
    const unreachable = new EnvoyAdminError('http://127.0.0.1:9901/server_info', 'unreachable', 'GET failed: ECONNREFUSED');
    await assert.rejects(
      workloadScopeRefusal(w(), ctxWith({ fail: unreachable, scope: scope({ production: true }) }).ctx),
      (e: unknown) => {
        assert.ok(e instanceof Error);
        assert.match(e.message, /^cannot tell whether shop\/web-0 belongs to the simulated fleet: .*ECONNREFUSED/);
        assert.equal(retryClassOf(e), 'retryable');
        return true;
      },
    );
    const malformed = new EnvoyAdminError('http://127.0.0.1:9901/server_info', 'malformed', 'invalid /server_info payload');
    await assert.rejects(
      workloadScopeRefusal(w(), ctxWith({ fail: malformed, scope: scope({ simulated: true }) }).ctx),
      (e: unknown) => retryClassOf(e) === 'permanent',
    );
  });
});

describe('permanent vs transient errors', () => {
  it("reads the error's own retry class and nothing else: no guessing from fields", () => {
    assert.equal(retryClassOf(new PermanentActionError('paused')), 'permanent');
    assert.equal(retryClassOf(new ClassifiedError('403', 'permanent')), 'permanent');
    assert.equal(retryClassOf(new ClassifiedError('503', 'retryable')), 'retryable');
    // Fields an adapter did not turn into a class are not read: an unwrapped error is retryable (bounded deliveries).
    assert.equal(retryClassOf(Object.assign(new Error('gone'), { failure: 'not_found' })), 'retryable');
    assert.equal(retryClassOf(Object.assign(new Error('precondition'), { code: 9 })), 'retryable');
    assert.equal(retryClassOf(new Error('ECONNRESET')), 'retryable');
    assert.equal(retryClassOf('a string'), 'retryable');
  });
});
