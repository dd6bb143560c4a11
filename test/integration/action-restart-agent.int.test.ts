/**
 * restart_agent against the simulated fleet: the real client-node adapter deletes the agent pod on
 * the fake API server, whose DaemonSet stand-in restarts the world's agent and re-annotates the
 * new pod; knowledge in a real Redis; live probes through the real SPIRE health and Debug clients.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { EnvoyAdminHttp } from '../../src/adapters/envoy/admin-http.js';
import { KubernetesInventory } from '../../src/adapters/kubernetes/kubernetes-inventory.js';
import { RedisAuditLog } from '../../src/adapters/redis/redis-audit-log.js';
import { RedisKnowledgeStore } from '../../src/adapters/redis/redis-knowledge-store.js';
import { GrpcAgentAdmin } from '../../src/adapters/spire/agent-admin.client.js';
import { HttpSpireHealth } from '../../src/adapters/spire/spire-health.client.js';
import { GrpcSpireServer } from '../../src/adapters/spire/spire-server.client.js';
import type { ActionContext, ActionScope } from '../../src/execute/action.js';
import { restartAgentAction, type AgentProbePorts } from '../../src/execute/actions/restart-agent.action.js';
import { processRemediationJob } from '../../src/execute/process-remediation-job.js';
import { systemClock } from '../../src/knowledge/clock.js';
import { makeActionRunId, type RemediationRequest } from '../../src/knowledge/model/action-run.js';
import { makeIncidentId } from '../../src/knowledge/model/incident.js';
import { AGENT_HEALTH_URL_ANNOTATION } from '../../src/sim/fleet-kubernetes.js';
import { parseScenario } from '../../src/sim/scenario.js';
import { startSimulatedFleet, type RunningSimFleet } from '../../src/sim/simulated-fleet.js';
import { startTestRedis, uniquePrefix } from '../support/redis.js';

const scenario = parseScenario(
  'inline',
  'name: x\nfleet:\n  svidTtl: 6s\n  envoyRestart: 200ms\n  nodes: 2\n  workloads:\n    - {location: shop, name: web, count: 2}\n',
);
const actions = new Map([[restartAgentAction.name, restartAgentAction]]);
const signal = (): AbortSignal => new AbortController().signal;

describe('restart_agent on the simulated fleet', () => {
  let redis: Awaited<ReturnType<typeof startTestRedis>>;
  let conn: Redis;
  let fleet: RunningSimFleet;
  let spireServer: GrpcSpireServer;
  before(async () => {
    redis = await startTestRedis();
    conn = new Redis(redis.url);
    fleet = await startSimulatedFleet(scenario);
    spireServer = new GrpcSpireServer({ endpoint: fleet.sources().spire?.server ?? '' });
  });
  after(async () => {
    spireServer.close();
    await fleet.stop();
    await conn.quit();
    await redis.stop();
  });

  /** `openedAgoMs`: how long before the job the incident opened (a healthy agent has synced since). */
  async function setup(
    node: string,
    opts: { probes?: boolean; scope?: ActionScope; openedAgoMs?: number } = {},
  ): Promise<{ ctx: ActionContext; job: RemediationRequest }> {
    const prefix = uniquePrefix();
    const store = new RedisKnowledgeStore(conn, prefix);
    const now = Date.now();
    const openedAt = now - (opts.openedAgoMs ?? 0);
    const target = `agent:${node}`;
    const id = makeIncidentId('agent_disconnected', target, openedAt);
    await store.openIncident({
      id,
      type: 'agent_disconnected',
      subject: target,
      status: 'open',
      openedAt,
      resolvedAt: null,
      explanation: 'test',
      evidence: [],
      history: [],
    });
    const ctx: ActionContext & AgentProbePorts = {
      store,
      audit: new RedisAuditLog(conn, prefix),
      clock: systemClock,
      envoy: new EnvoyAdminHttp(),
      rotation: { rotateAtFraction: 0.5, graceMs: 500 },
      kubernetes: new KubernetesInventory({ connection: { kind: 'server', server: fleet.kube.url } }),
      spireServer,
      ...(opts.probes === false ? {} : { spireHealth: new HttpSpireHealth(), agentDebug: new GrpcAgentAdmin() }),
      ...(opts.scope === undefined ? {} : { scope: opts.scope }),
    };
    const job: RemediationRequest = {
      id: makeActionRunId(id, 2, 1),
      incidentId: id,
      step: 2,
      attempt: 1,
      action: 'restart_agent',
      target,
      decidedAt: now,
      shadow: false,
      params: {},
    };
    return { ctx, job };
  }

  const agentPod = (node: string) => {
    const pod = fleet.kube.store.list('pods', 'spire').find((p) => (p.spec as { nodeName?: string }).nodeName === node);
    assert.ok(pod, `agent pod of ${node}`);
    return pod;
  };

  it('skips a healthy agent and names what it read live', async () => {
    // Opened a few seconds ago, as after detection: the agent's syncs since then (every world tick,
    // in whole seconds on the Debug API) show it healthy however slowly this machine ticks.
    const { ctx, job } = await setup('node-0', { openedAgoMs: 5_000 });
    const uid = agentPod('node-0').metadata.uid;
    const out = await processRemediationJob(job, actions, ctx, signal());
    assert.equal(out.result, 'skipped', out.detail);
    assert.match(
      out.detail,
      /the SPIRE agent on node-0 is healthy \(pod spire\/spire-agent-node-0 is Ready; http:\/\/127\.0\.0\.1:\d+\/ready answers 200; last sync with the server [\d.]+s ago\)/,
    );
    assert.equal(agentPod('node-0').metadata.uid, uid);
    assert.equal(fleet.actionsOnHealthyTargets(), 0);
  });

  it('refuses an agent pod outside the namespaces in scope', async () => {
    fleet.injectFault({ kind: 'agent_server_lost', target: 'node-1', atMs: 0 });
    const { ctx, job } = await setup('node-1', { scope: { production: false, simulated: true, trustDomains: [], namespaces: ['shop'] } });
    const out = await processRemediationJob(job, actions, ctx, signal());
    assert.equal(out.result, 'skipped');
    assert.match(out.detail, /^refused: SPIRE agent pod spire\/spire-agent-node-1 is in namespace spire, outside the configured shop$/);
  });

  it('restarts an agent that lost its server: the pod is recreated, the world agent syncs again, the new pod names its new endpoints', async () => {
    await new Promise((r) => setTimeout(r, 1_600));
    const { ctx, job } = await setup('node-1');
    const old = agentPod('node-1');
    const out = await processRemediationJob(job, actions, ctx, signal());
    assert.equal(out.result, 'succeeded', out.detail);
    assert.equal(out.performed, true);
    assert.match(
      out.detail,
      /deleted SPIRE agent pod spire\/spire-agent-node-1 \(uid [0-9a-f-]+\) on node-1; its DaemonSet recreated it as spire\/spire-agent-node-1 \(uid [0-9a-f-]+\), Ready/,
    );
    const fresh = agentPod('node-1');
    assert.notEqual(fresh.metadata.uid, old.metadata.uid);
    assert.equal(fresh.metadata.annotations?.[AGENT_HEALTH_URL_ANNOTATION], fleet.agent('node-1').healthUrl);
    assert.ok(fleet.agent('node-1').running);
    assert.equal(fleet.world.agent('node-1').syncing, true);
    assert.ok(
      fleet.faults().every((f) => f.healedAt !== null),
      'agent_server_lost healed',
    );
    assert.equal(fleet.actionsOnHealthyTargets(), 0);
    const events = fleet.kube.store.list('events', 'spire') as unknown as {
      reason: string;
      message: string;
      involvedObject: { name: string; uid: string };
    }[];
    assert.equal(events.length, 1);
    const [event] = events;
    assert.ok(event);
    assert.equal(event.reason, 'SpireHealerRestartAgent');
    assert.equal(event.involvedObject.uid, old.metadata.uid);
    assert.match(event.message, new RegExp(`incident ${job.incidentId} \\(job ${job.id}\\)`));

    // Delivered again: the recorded outcome; checked again: a replaced pod or a healthy agent, never a second delete.
    assert.deepEqual(await processRemediationJob(job, actions, ctx, signal()), out);
    const again = await restartAgentAction.precheck(job, ctx, signal());
    assert.equal(again.proceed, false);
    assert.match(again.detail, /was created after this job was decided|the SPIRE agent on node-1 is healthy/);
    assert.equal(agentPod('node-1').metadata.uid, fresh.metadata.uid);
  });

  it('without live probes judges by knowledge, and restarts an agent that is down', async () => {
    fleet.injectFault({ kind: 'agent_down', target: 'node-0', atMs: 0 });
    await new Promise((r) => setTimeout(r, 300));
    const { ctx, job } = await setup('node-0', { probes: false });
    const check = await restartAgentAction.precheck(job, ctx, signal());
    assert.equal(check.proceed, true);
    assert.match(check.detail, /no \/ready answer observed since the incident opened; no Debug GetInfo observed/);
    const out = await processRemediationJob(job, actions, ctx, signal());
    assert.equal(out.result, 'succeeded', out.detail);
    assert.ok(fleet.agent('node-0').running);
    assert.equal(fleet.world.agent('node-0').up, true);
    assert.equal(agentPod('node-0').metadata.annotations?.[AGENT_HEALTH_URL_ANNOTATION], fleet.agent('node-0').healthUrl);
    assert.equal(fleet.actionsOnHealthyTargets(), 0);
  });

  it('a target that is not an agent is skipped', async () => {
    const { ctx, job } = await setup('node-0');
    const out = await restartAgentAction.precheck({ ...job, target: 'shop/web-0' }, ctx, signal());
    assert.deepEqual(out, { proceed: false, detail: 'restart_agent acts on agent:<node> targets; shop/web-0 is not one' });
  });
});
