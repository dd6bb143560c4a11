/**
 * collect_evidence against the simulated fleet: the agent pod's log through the real client-node
 * adapter and the fake API server's log subresource (rendered from the world's faults), a log
 * file, and a workload's Envoy /certs and /stats through the real admin client; knowledge in a
 * real Redis.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { EnvoyAdminHttp } from '../../src/adapters/envoy/admin-http.js';
import { KubernetesInventory } from '../../src/adapters/kubernetes/kubernetes-inventory.js';
import { RedisAuditLog } from '../../src/adapters/redis/redis-audit-log.js';
import { RedisKnowledgeStore } from '../../src/adapters/redis/redis-knowledge-store.js';
import type { ActionContext } from '../../src/execute/action.js';
import { collectEvidenceAction, composeEvidence, EVIDENCE_MAX_BYTES } from '../../src/execute/actions/collect-evidence.action.js';
import { processRemediationJob } from '../../src/execute/process-remediation-job.js';
import { systemClock } from '../../src/knowledge/clock.js';
import { makeActionRunId, type ActionParams, type RemediationRequest } from '../../src/knowledge/model/action-run.js';
import { makeIncidentId } from '../../src/knowledge/model/incident.js';
import { parseScenario } from '../../src/sim/scenario.js';
import { startSimulatedFleet, type RunningSimFleet } from '../../src/sim/simulated-fleet.js';
import { startTestRedis, uniquePrefix } from '../support/redis.js';

const scenario = parseScenario(
  'inline',
  'name: x\nfleet:\n  svidTtl: 10s\n  nodes: 2\n  workloads:\n    - {location: shop, name: web, count: 2}\n',
);
const actions = new Map([[collectEvidenceAction.name, collectEvidenceAction]]);
const signal = (): AbortSignal => new AbortController().signal;

describe('collect_evidence on the simulated fleet', () => {
  let redis: Awaited<ReturnType<typeof startTestRedis>>;
  let conn: Redis;
  let fleet: RunningSimFleet;
  let dir: string;
  before(async () => {
    redis = await startTestRedis();
    conn = new Redis(redis.url);
    fleet = await startSimulatedFleet(scenario);
    dir = mkdtempSync(join(tmpdir(), 'evidence-'));
  });
  after(async () => {
    rmSync(dir, { recursive: true, force: true });
    await fleet.stop();
    await conn.quit();
    await redis.stop();
  });

  async function setup(target: string, params: ActionParams, kubernetes = true): Promise<{ ctx: ActionContext; job: RemediationRequest }> {
    const prefix = uniquePrefix();
    const store = new RedisKnowledgeStore(conn, prefix);
    for (const w of fleet.targets()) await store.putWorkload(w);
    const now = Date.now();
    const id = makeIncidentId('agent_disconnected', target, now);
    await store.openIncident({
      id,
      type: 'agent_disconnected',
      subject: target,
      status: 'open',
      openedAt: now,
      resolvedAt: null,
      explanation: 'test',
      evidence: [],
      history: [],
    });
    const ctx: ActionContext = {
      store,
      audit: new RedisAuditLog(conn, prefix),
      clock: systemClock,
      envoy: new EnvoyAdminHttp(),
      rotation: { rotateAtFraction: 0.5, graceMs: 500 },
      ...(kubernetes ? { kubernetes: new KubernetesInventory({ connection: { kind: 'server', server: fleet.kube.url } }) } : {}),
    };
    return {
      ctx,
      job: {
        id: makeActionRunId(id, 1, 1),
        incidentId: id,
        step: 1,
        attempt: 1,
        action: 'collect_evidence',
        target,
        decidedAt: now,
        shadow: false,
        params,
      },
    };
  }

  it('returns the tail of the agent pod log, with a summary naming the last error, for an agent that lost its server', async () => {
    fleet.injectFault({ kind: 'agent_server_lost', target: 'node-1', atMs: 0 });
    await new Promise((r) => setTimeout(r, 5_300));
    const { ctx, job } = await setup('agent:node-1', { tailLines: 3 });
    const out = await processRemediationJob(job, actions, ctx, signal());
    assert.equal(out.result, 'succeeded', out.detail);
    const [summary, marker, ...lines] = out.detail.trimEnd().split('\n');
    assert.match(
      summary ?? '',
      /^SPIRE agent log of pod spire\/spire-agent-node-1 on node-1 \(last 3 lines\): 3 line\(s\), 2 error\(s\), 0 warning\(s\); last error: "Synchronize failed"$/,
    );
    assert.equal(marker, '--- evidence ---');
    assert.equal(lines.length, 3);
    assert.match(
      lines.at(-1) ?? '',
      /^time="[^"]+" level=error msg="Synchronize failed" error=".*connection refused.*" subsystem_name=manager$/,
    );
    // The stored run carries the evidence (what the incident's history shows).
    assert.equal((await ctx.store.getActionRun(job.id))?.detail, out.detail);
  });

  it('keeps the newest lines within 8 KB when the log is long', async () => {
    const { ctx, job } = await setup('agent:node-0', { tailLines: 10_000 });
    const detail = await collectEvidenceAction.perform(job, ctx, signal());
    assert.ok(Buffer.byteLength(detail) <= EVIDENCE_MAX_BYTES);
    assert.match(
      detail,
      /^SPIRE agent log of pod spire\/spire-agent-node-0 on node-0 \(last 10000 lines\): \d+ line\(s\), 0 error\(s\), 1 warning\(s\)\n--- evidence ---\n/,
    );
    const long = composeEvidence({ summary: 's', text: Array.from({ length: 2000 }, (_, i) => `line ${i}\n`).join(''), keep: 'tail' });
    assert.ok(Buffer.byteLength(long) <= EVIDENCE_MAX_BYTES);
    assert.match(long, /^s\n--- evidence ---\n\[… truncated …\]\nline \d+\n/);
    assert.ok(long.endsWith('line 1999\n'));
  });

  it('reads params.logFile when Kubernetes is not configured', async () => {
    const file = join(dir, 'agent.log');
    writeFileSync(
      file,
      'time="2025-01-01T00:00:00Z" level=info msg="Starting agent"\ntime="2025-01-01T00:00:05Z" level=error msg="Agent crashed" error="x"\n',
    );
    const { ctx, job } = await setup('agent:node-0', { logFile: file, tailLines: 5 }, false);
    const out = await processRemediationJob(job, actions, ctx, signal());
    assert.equal(out.result, 'succeeded', out.detail);
    assert.match(
      out.detail,
      new RegExp(
        `^SPIRE agent log ${file} of node-0 \\(last 5 lines\\): 2 line\\(s\\), 1 error\\(s\\), 0 warning\\(s\\); last error: "Agent crashed"\\n`,
      ),
    );
    const none = await setup('agent:node-0', {}, false);
    const failed = await processRemediationJob(none.job, actions, none.ctx, signal());
    assert.equal(failed.result, 'failed');
    assert.match(failed.detail, /needs Kubernetes \(the agent pod's log\) or a logFile parameter/);
  });

  it("collects a workload's Envoy /certs and /stats", async () => {
    const { ctx, job } = await setup('shop/web-0', {});
    const out = await processRemediationJob(job, actions, ctx, signal());
    assert.equal(out.result, 'succeeded', out.detail);
    const leaf = fleet.world.envoy('shop/web-0').served;
    assert.ok(leaf);
    assert.match(
      out.detail,
      new RegExp(
        `^Envoy of shop/web-0 at http://127\\.0\\.0\\.1:\\d+\\S*: /certs: serves SVID serial ${leaf.serialHex} \\(spiffe://example\\.org/\\S+\\), expires in \\d+s; 1 CA certificate\\(s\\); /stats: SDS updates \\d+ ok / 0 rejected / 0 failed`,
      ),
    );
    assert.match(out.detail, /\n--- evidence ---\nGET http:\/\/127\.0\.0\.1:\d+\S*\/certs\n\{/);
    const gone = await setup('shop/nope', {});
    assert.equal((await processRemediationJob(gone.job, actions, gone.ctx, signal())).result, 'skipped');
  });
});
