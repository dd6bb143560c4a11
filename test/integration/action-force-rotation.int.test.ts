/**
 * force_rotation against the simulated fleet over the real protocols (SPIRE server API over gRPC
 * on loopback, Delegated Identity and Debug on the fake agents' sockets) with knowledge in a real
 * Redis: agent eviction and re-attestation, the LocalAuthority sequence, and hooks.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { EnvoyAdminHttp } from '../../src/adapters/envoy/admin-http.js';
import { KubernetesInventory } from '../../src/adapters/kubernetes/kubernetes-inventory.js';
import { RedisAuditLog } from '../../src/adapters/redis/redis-audit-log.js';
import { RedisKnowledgeStore } from '../../src/adapters/redis/redis-knowledge-store.js';
import { GrpcAgentAdmin } from '../../src/adapters/spire/agent-admin.client.js';
import { GrpcSpireServer } from '../../src/adapters/spire/spire-server.client.js';
import { forceRotationAction } from '../../src/execute/actions/force-rotation.action.js';
import type { AgentProbePorts } from '../../src/execute/actions/restart-agent.action.js';
import type { ActionContext, ActionScope } from '../../src/execute/action.js';
import { processRemediationJob } from '../../src/execute/process-remediation-job.js';
import { systemClock } from '../../src/knowledge/clock.js';
import { makeActionRunId, type ActionParams, type RemediationRequest } from '../../src/knowledge/model/action-run.js';
import { makeIncidentId, type Incident, type IncidentType } from '../../src/knowledge/model/incident.js';
import { pollSpire } from '../../src/monitor/poll-spire.js';
import type { KubernetesInventoryPort } from '../../src/ports/kubernetes.port.js';
import type { DelegatedX509SvidsUpdate } from '../../src/ports/spire.port.js';
import { parseScenario } from '../../src/sim/scenario.js';
import { startSimulatedFleet, type RunningSimFleet } from '../../src/sim/simulated-fleet.js';
import { workloadSelectors } from '../../src/sim/spire/selectors.js';
import { startTestRedis, uniquePrefix } from '../support/redis.js';

const scenario = parseScenario(
  'inline',
  'name: x\nfleet:\n  svidTtl: 4s\n  envoyRestart: 200ms\n  nodes: 3\n  workloads:\n    - {location: shop, name: web, count: 3}\n',
);
const actions = new Map([[forceRotationAction.name, forceRotationAction]]);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('force_rotation against the simulated fleet', () => {
  let redis: Awaited<ReturnType<typeof startTestRedis>>;
  let conn: Redis;
  let fleet: RunningSimFleet;
  let server: GrpcSpireServer;
  const admin = new GrpcAgentAdmin({ backoff: { initialBackoffMs: 20, maxBackoffMs: 100 } });

  before(async () => {
    redis = await startTestRedis();
    conn = new Redis(redis.url);
    fleet = await startSimulatedFleet(scenario);
    const endpoint = fleet.sources().spire?.server;
    assert.ok(endpoint);
    server = new GrpcSpireServer({ endpoint, timeoutMs: 2_000 });
  });
  after(async () => {
    server.close();
    await fleet.stop();
    await conn.quit();
    await redis.stop();
  });

  /**
   * A fresh store with the fleet's workloads (with nodes), an open incident on `subject`, and a job; `kube`: the context's
   * Kubernetes port.
   */
  async function setup(
    subject: string,
    params: ActionParams = {},
    type: IncidentType = 'rotation_failed',
    kube?: KubernetesInventoryPort,
    scope?: ActionScope,
  ): Promise<{ ctx: ActionContext & AgentProbePorts; job: RemediationRequest }> {
    const prefix = uniquePrefix();
    const store = new RedisKnowledgeStore(conn, prefix);
    const audit = new RedisAuditLog(conn, prefix);
    for (const w of fleet.targets()) await store.putWorkload(w);
    const now = Date.now();
    const incident: Incident = {
      id: makeIncidentId(type, subject, now),
      type,
      subject,
      status: 'open',
      openedAt: now,
      resolvedAt: null,
      explanation: 'test',
      evidence: [],
      history: [],
    };
    await store.openIncident(incident);
    const job: RemediationRequest = {
      id: makeActionRunId(incident.id, 0, 1),
      incidentId: incident.id,
      step: 0,
      attempt: 1,
      action: 'force_rotation',
      target: subject,
      params,
      decidedAt: now,
      shadow: false,
    };
    const ctx = {
      store,
      audit,
      clock: systemClock,
      envoy: new EnvoyAdminHttp(),
      rotation: { rotateAtFraction: 0.5, graceMs: 500 },
      spireServer: server,
      agentDebug: admin,
      ...(kube === undefined ? {} : { kubernetes: kube }),
      ...(scope === undefined ? {} : { scope }),
    };
    return { ctx, job };
  }

  /** Records what the node's agent holds for the workload, read over Delegated Identity, as the monitor's stream does. */
  async function recordDelegatedSvid(ctx: ActionContext, workloadId: string, node: string): Promise<string> {
    const w = fleet.targets().find((x) => x.id === workloadId);
    assert.ok(w);
    const update = await new Promise<DelegatedX509SvidsUpdate>((resolve, reject) => {
      const watch = admin.watchX509Svids(fleet.agent(node).adminEndpoint, workloadSelectors(w), {
        onUpdate: (u) => {
          queueMicrotask(() => {
            watch.close();
          });
          resolve(u);
        },
        onError: (f) => {
          queueMicrotask(() => {
            watch.close();
          });
          reject(new Error(f.message));
        },
      });
    });
    const leaf = update.svids[0]?.chain[0];
    assert.ok(leaf);
    await ctx.store.recordObservation({
      subject: workloadId,
      source: 'spire.delegated.svid',
      observedAt: Date.now(),
      data: {
        kind: 'spire.svid',
        node,
        svid: { serialNumber: leaf.serialHex, uriSans: leaf.uriSans, validFromMs: leaf.notBeforeMs, expiresAtMs: leaf.notAfterMs },
      },
    });
    return leaf.serialHex;
  }

  it('skips a healthy agent (SVID valid, synced just now, its workload SVIDs current) and does not evict it', async () => {
    const { ctx, job } = await setup('agent:node-0', { adminEndpoint: fleet.agent('node-0').adminEndpoint });
    await recordDelegatedSvid(ctx, 'shop/web-0', 'node-0');
    const out = await processRemediationJob(job, actions, ctx, new AbortController().signal);
    assert.equal(out.result, 'skipped', out.detail);
    assert.match(out.detail, /is not behind .*synced .* ago.*current/);
    assert.deepEqual([fleet.world.agentAttestation('node-0').attested, fleet.world.agentAttestation('node-0').generation], [true, 1]);
  });

  /** The Events recorded in the SPIRE namespace of the fake API server. */
  const spireEvents = () =>
    fleet.kube.store.list('events', 'spire') as unknown as {
      metadata: { name: string };
      reason: string;
      action: string;
      message: string;
      involvedObject: { kind: string; name: string; uid: string };
    }[];
  const agentPod = (node: string) =>
    fleet.kube.store.list('pods', 'spire').find((p) => (p.spec as { nodeName?: string }).nodeName === node);

  it('evicts an agent that stopped rotating a workload SVID: it re-attests, re-mints, and Envoy gets the new SVID; an Event on its agent pod says so', async () => {
    const healthyBefore = fleet.actionsOnHealthyTargets();
    fleet.injectFault({ kind: 'svid_rotation_stopped', target: 'shop/web-1', atMs: 0 });
    const stuck = fleet.world.agentSvid('shop/web-1');
    await sleep(Math.max(0, stuck.notBeforeMs + 2_000 + 700 - Date.now()));
    const { ctx, job } = await setup(
      'shop/web-1',
      {},
      'rotation_failed',
      new KubernetesInventory({ connection: { kind: 'server', server: fleet.kube.url } }),
    );
    const eventsBefore = spireEvents().length;
    assert.equal(await recordDelegatedSvid(ctx, 'shop/web-1', 'node-1'), stuck.serialHex, 'the agent still holds the stuck SVID');
    const agentId = fleet.agent('node-1').agentId;
    const before = await server.getAgent(agentId);

    const out = await processRemediationJob(job, actions, ctx, new AbortController().signal);
    assert.equal(out.result, 'succeeded', out.detail);
    assert.equal(out.performed, true);
    assert.match(out.detail, new RegExp(`DeleteAgent ${agentId} evicted the agent .*re-attested with SVID serial`));
    assert.doesNotMatch(out.detail, /Kubernetes Event/, 'the Event was recorded');
    const events = spireEvents().slice(eventsBefore);
    assert.equal(events.length, 1);
    const [event] = events;
    assert.ok(event);
    const pod = agentPod('node-1');
    assert.ok(pod);
    assert.deepEqual(
      [event.reason, event.action, event.involvedObject.kind, event.involvedObject.name, event.involvedObject.uid],
      ['SpireHealerForceRotation', 'DeleteAgent', 'Pod', pod.metadata.name, pod.metadata.uid],
    );
    assert.match(
      event.message,
      new RegExp(
        `^spire-healer evicted SPIRE agent ${agentId} on node node-1 .*DeleteAgent; its agent SVID serial was ${before.serialHex}.* for incident ${job.incidentId} \\(job ${job.id}\\)$`,
      ),
    );
    assert.equal(fleet.world.agentAttestation('node-1').generation, 2);
    const after = await server.getAgent(agentId);
    assert.notEqual(after.serialHex, before.serialHex, 'the server lists a new agent SVID');
    assert.equal(after.serialHex, fleet.agent('node-1').agentSvid?.serialHex);
    const fresh = fleet.world.agentSvid('shop/web-1');
    assert.notEqual(fresh.serialHex, stuck.serialHex, 'the stuck workload SVID was minted anew');
    assert.notEqual(fleet.faults().find((f) => f.kind === 'svid_rotation_stopped')?.healedAt ?? null, null);
    await sleep(400);
    assert.notEqual(fleet.world.envoy('shop/web-1').served?.serialHex, stuck.serialHex, 'Envoy took the new SVID over SDS');
    assert.equal(fleet.actionsOnHealthyTargets(), healthyBefore);

    const again = await processRemediationJob(job, actions, ctx, new AbortController().signal);
    assert.deepEqual(again, out, 'a re-delivered job does not evict again');
    assert.equal(fleet.world.agentAttestation('node-1').generation, 2);
    assert.equal(spireEvents().length, eventsBefore + 1, 'nor records a second Event');
  });

  it('an Event that cannot be recorded, or whose namespace is out of scope, never fails the eviction', async () => {
    const real = new KubernetesInventory({ connection: { kind: 'server', server: fleet.kube.url } });
    const failing: KubernetesInventoryPort = Object.assign(Object.create(real) as KubernetesInventoryPort, {
      recordEvent: () =>
        Promise.reject(
          Object.assign(
            new Error('events is forbidden: User "system:serviceaccount:spire-healer:spire-healer" cannot create resource "events"'),
            { failure: { code: 'forbidden' } },
          ),
        ),
    });
    const eventsBefore = spireEvents().length;
    const generation = fleet.world.agentAttestation('node-0').generation;
    const a = await setup('agent:node-0', { waitReattest: '10s' }, 'rotation_failed', failing);
    const out = await forceRotationAction.perform(a.job, a.ctx, new AbortController().signal);
    assert.match(
      out,
      /DeleteAgent \S+ evicted the agent .*re-attested .*; the Kubernetes Event could not be recorded \(events is forbidden/,
    );

    const scoped = await setup('agent:node-0', { waitReattest: '10s' }, 'rotation_failed', real, {
      production: false,
      simulated: false,
      trustDomains: [],
      namespaces: ['shop'],
    });
    const second = await forceRotationAction.perform(scoped.job, scoped.ctx, new AbortController().signal);
    assert.match(
      second,
      /evicted the agent .*re-attested .*; no Kubernetes Event recorded \(refused: SPIRE agent pod spire\/spire-agent-node-0 is in namespace spire, outside the configured shop\)$/,
    );
    assert.equal(fleet.world.agentAttestation('node-0').generation, generation + 2);
    assert.equal(spireEvents().length, eventsBefore);
  });

  it('refuses an agent that cannot re-attest (join_token) and a banned one: skipped, never deleted', async () => {
    fleet.world.setAgentAttestor('node-2', 'join_token', false);
    const a = await setup('agent:node-2');
    const out = await processRemediationJob(a.job, actions, a.ctx, new AbortController().signal);
    assert.equal(out.result, 'skipped');
    assert.match(out.detail, /attested by join_token\) cannot re-attest/);
    fleet.world.setAgentAttestor('node-2', 'k8s_psat', true);
    fleet.world.banAgent('node-2');
    const b = await setup('agent:node-2');
    const banned = await processRemediationJob(b.job, actions, b.ctx, new AbortController().signal);
    assert.equal(banned.result, 'skipped');
    assert.match(banned.detail, /is banned/);
    assert.deepEqual(
      { ...fleet.world.agentAttestation('node-2'), evictedAt: null },
      { attested: false, banned: true, canReattest: true, attestationType: 'k8s_psat', generation: 1, evictedAt: null },
    );
    assert.equal((await server.getAgent(fleet.agent('node-2').agentId)).banned, true, 'still banned: DeleteAgent was not called');
  });

  it('mode authority: prepares, waits until every agent distributes the new CA, activates and taints the old one; a later job does not rotate again', async () => {
    const { ctx, job } = await setup(
      'trust-domain:example.org',
      { mode: 'authority', taintOld: true, propagationTimeout: '20s' },
      'trust_bundle_drift',
    );
    const oldCa = fleet.world.ca;
    const endpoint = fleet.sources().spire?.server ?? '';
    const deps = {
      store: ctx.store,
      audit: ctx.audit,
      server: { port: server, endpoint },
      debug: admin,
      bundles: admin,
      clock: systemClock,
      trustDomain: 'example.org',
      concurrency: 3,
    };
    const targets = fleet.world.nodes().map((node) => ({ node, adminEndpoint: fleet.agent(node).adminEndpoint }));
    const polling = { on: true };
    const monitor = (async () => {
      while (polling.on) {
        await pollSpire(deps, targets);
        await sleep(150);
      }
    })();
    try {
      const out = await processRemediationJob(job, actions, ctx, new AbortController().signal);
      assert.equal(out.result, 'succeeded', out.detail);
      const state = fleet.world.authorityState();
      assert.notEqual(state.active, oldCa);
      assert.equal(state.old, oldCa);
      assert.equal(fleet.world.isAuthorityTainted(oldCa.cert), true);
      assert.match(
        out.detail,
        /prepared X\.509 authority .*every agent \(2\) distributes it.*activated it.*tainted the old authority.*spire-server localauthority x509 revoke -authorityID/,
      );
      for (const id of ['shop/web-0', 'shop/web-1']) {
        assert.equal(
          fleet.world.agentSvid(id).x509.verify(state.active.cert.x509.publicKey),
          true,
          `${id} was re-minted by the new CA after the taint`,
        );
      }
      const later = await processRemediationJob(
        { ...job, id: makeActionRunId(job.incidentId, 0, 2), attempt: 2 },
        actions,
        ctx,
        new AbortController().signal,
      );
      assert.equal(later.result, 'skipped');
      assert.match(later.detail, /already rotated/);
      assert.equal(fleet.world.authorityState().active, state.active);
    } finally {
      polling.on = false;
      await monitor;
    }
  });

  describe('hook', () => {
    const node = process.execPath;
    it('runs the command without a shell, with only the allowlisted environment, and reports its output', async () => {
      process.env.HOOK_TEST_SECRET = 's3cr3t';
      const script =
        "console.log(['target=' + process.env.SPIRE_HEALER_TARGET, 'home=' + (process.env.HOME ?? '-'), 'secret=' + (process.env.HOOK_TEST_SECRET ?? 'none'), 'arg=' + process.argv[1]].join(' '))";
      const { ctx, job } = await setup('shop/web-0', { hook: [node, '-e', script, '$(rm -rf /); *'], env: ['HOME'] });
      const out = await processRemediationJob(job, actions, ctx, new AbortController().signal);
      delete process.env.HOOK_TEST_SECRET;
      assert.equal(out.result, 'succeeded', out.detail);
      assert.match(out.detail, /exited 0 after \d+ ms; stdout: "target=shop\/web-0 home=[^ ]+ secret=none arg=\$\(rm -rf \/\); \*"/);
    });

    it('a non-zero exit fails the job (retryable) with stderr as evidence; truncates long output', async () => {
      const { ctx, job } = await setup('shop/web-0', {
        hook: [node, '-e', "process.stdout.write('x'.repeat(10000)); console.error('rotation refused'); process.exit(3)"],
      });
      const out = await processRemediationJob(job, actions, ctx, new AbortController().signal);
      assert.equal(out.result, 'failed');
      assert.equal(out.transient, true);
      assert.match(out.detail, /exited 3 .*truncated: 10000 bytes in all.*stderr: "rotation refused"/);
    });

    it('kills a hook that outlives its timeout; a program that does not exist fails permanently', async () => {
      const slow = await setup('shop/web-0', { hook: [node, '-e', 'setInterval(() => {}, 1000)'], timeout: '300ms' });
      const started = Date.now();
      const out = await processRemediationJob(slow.job, actions, slow.ctx, new AbortController().signal);
      assert.equal(out.result, 'failed');
      assert.match(out.detail, /timed out after \d+ ms and was killed/);
      assert.ok(Date.now() - started < 5_000);
      const tree = await setup('shop/web-0', { hook: ['/bin/sh', '-c', 'sleep 30; echo done'], timeout: '300ms' });
      const t2 = Date.now();
      const killed = await processRemediationJob(tree.job, actions, tree.ctx, new AbortController().signal);
      assert.match(killed.detail, /timed out/);
      assert.ok(Date.now() - t2 < 5_000, "the hook's own children are killed too (process group)");
      const missing = await setup('shop/web-0', { hook: ['/nonexistent/rotate-svids'] });
      const gone = await processRemediationJob(missing.job, actions, missing.ctx, new AbortController().signal);
      assert.equal(gone.result, 'failed');
      assert.equal(gone.transient, undefined);
      assert.match(gone.detail, /permanent.*could not be started/);
    });
  });
});
