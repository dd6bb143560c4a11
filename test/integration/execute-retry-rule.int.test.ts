/**
 * The one retry rule end to end, through BullMQ on a real Redis: a permanent failure reported by a
 * real adapter (PERMISSION_DENIED from a loopback SPIRE server on the GetBundle restart_envoy makes
 * for a trust-bundle drift) is delivered exactly once, with its action run and audit entry written
 * before the job ends; a webhook that keeps answering 500 gets exactly one POST per delivery (the
 * notify step's params.attempts), and one that answers 403 exactly one POST.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { EnvoyAdminHttp } from '../../src/adapters/envoy/admin-http.js';
import { BullmqRemediationQueue } from '../../src/adapters/queue/bullmq-remediation-queue.js';
import { RedisAuditLog } from '../../src/adapters/redis/redis-audit-log.js';
import { RedisKnowledgeStore } from '../../src/adapters/redis/redis-knowledge-store.js';
import { GrpcSpireServer } from '../../src/adapters/spire/spire-server.client.js';
import { spireServices } from '../../src/adapters/spire/spire-protos.js';
import { WebhookNotifier } from '../../src/adapters/webhook/webhook-notifier.js';
import type { ActionContext } from '../../src/execute/action.js';
import { createNotifyAction } from '../../src/execute/actions/notify.action.js';
import { restartEnvoyAction } from '../../src/execute/actions/restart-envoy.action.js';
import { processRemediationJob, type ActionRegistry } from '../../src/execute/process-remediation-job.js';
import { systemClock } from '../../src/knowledge/clock.js';
import { makeActionRunId, type ActionParams, type RemediationRequest } from '../../src/knowledge/model/action-run.js';
import { makeIncidentId, type Incident, type IncidentType } from '../../src/knowledge/model/incident.js';
import { bindServer, statusError, type BoundServer } from '../../src/sim/spire/grpc-endpoint.js';
import { uniquePrefix, withRedis } from '../support/redis.js';

const served = (serial: string): object => ({
  serial_number: serial,
  subject_alt_names: [{ uri: 'spiffe://example.org/ns/shop/sa/web' }],
  valid_from: '2025-01-01T00:00:00Z',
  expiration_time: '2035-01-01T00:00:00Z',
});

async function until<T>(what: string, f: () => Promise<T | null>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await f();
    if (v !== null) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('one retry rule through BullMQ (real Redis, real adapters)', () => {
  const redis = withRedis();
  let spire: BoundServer;
  let getBundleCalls = 0;
  let http: Server;
  let base = '';
  const posts = new Map<string, number>();
  /** The HTTP status each path answers (the Envoy admin API and the webhooks share this server). */
  const answers = new Map<string, number>([
    ['/hook/down', 500],
    ['/hook/forbidden', 403],
  ]);

  before(async () => {
    // A SPIRE server whose Bundle API refuses the caller, as one missing an admin entry would.
    const server = new grpc.Server();
    server.addService(spireServices().serverBundle.definition, {
      GetBundle: (_call: grpc.ServerUnaryCall<object, object>, cb: grpc.sendUnaryData<object>) => {
        getBundleCalls++;
        cb(statusError(grpc.status.PERMISSION_DENIED, 'authorization denied for method /spire.api.server.bundle.v1.Bundle/GetBundle'));
      },
    });
    spire = await bindServer(server, { tcpPort: 0 });
    http = createServer((req, res) => {
      const path = req.url ?? '';
      if (req.method === 'POST') posts.set(path, (posts.get(path) ?? 0) + 1);
      req.resume();
      req.on('end', () => {
        if (path === '/envoy/certs') {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ certificates: [{ ca_cert: [served('0a')], cert_chain: [served('1b')] }] }));
          return;
        }
        res.writeHead(answers.get(path) ?? 200).end(`answer for ${path}`);
      });
    });
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  });
  after(async () => {
    spire.close();
    http.closeAllConnections();
    await new Promise<void>((r) => {
      http.close(() => {
        r();
      });
    });
  });

  async function setup(type: IncidentType, action: RemediationRequest['action'], params?: ActionParams) {
    const prefix = uniquePrefix('retry');
    const conn = redis.connect();
    const store = new RedisKnowledgeStore(conn, prefix);
    const audit = new RedisAuditLog(conn, prefix);
    const now = Date.now();
    const incident: Incident = {
      id: makeIncidentId(type, 'shop/web-0', now),
      type,
      subject: 'shop/web-0',
      status: 'open',
      openedAt: now,
      resolvedAt: null,
      explanation: 'x',
      evidence: [],
      history: [],
    };
    await store.openIncident(incident);
    await store.putWorkload({
      id: 'shop/web-0',
      spiffeId: 'spiffe://example.org/ns/shop/sa/web',
      trustDomain: 'example.org',
      platform: 'kubernetes',
      location: 'shop',
      envoyAdminUrl: `${base}/envoy`,
    });
    const job: RemediationRequest = {
      id: makeActionRunId(incident.id, 0, 1),
      incidentId: incident.id,
      step: 0,
      attempt: 1,
      action,
      target: 'shop/web-0',
      decidedAt: now,
      shadow: false,
      ...(params === undefined ? {} : { params }),
    };
    const spireServer = new GrpcSpireServer({ endpoint: spire.endpoint, timeoutMs: 2_000 });
    const ctx: ActionContext = {
      store,
      audit,
      clock: systemClock,
      envoy: new EnvoyAdminHttp(),
      rotation: { rotateAtFraction: 0.5, graceMs: 1_000 },
      spireServer,
    };
    const actions: ActionRegistry = new Map([
      [restartEnvoyAction.name, restartEnvoyAction],
      ['notify', createNotifyAction(new WebhookNotifier())],
    ]);
    const queue = new BullmqRemediationQueue({ redisUrl: redis.url, keyPrefix: prefix });
    const deliveries: number[] = [];
    await queue.startWorker(async (j, signal, delivery) => {
      deliveries.push(delivery.attempt);
      return processRemediationJob(j, actions, ctx, signal, delivery);
    });
    const close = async (): Promise<void> => {
      await queue.close(1_000);
      spireServer.close();
    };
    return { store, audit, job, queue, deliveries, close };
  }

  /** Waits until BullMQ has failed or completed the job, then a little past its first retry backoff (1 s). */
  async function settled(queue: BullmqRemediationQueue): Promise<Record<string, number>> {
    await until('the job to end', async () => {
      const c = await queue.counts();
      return (c.failed ?? 0) + (c.completed ?? 0) > 0 ? true : null;
    });
    await new Promise((r) => setTimeout(r, 1_300));
    return queue.counts();
  }

  it('PERMISSION_DENIED from SPIRE GetBundle (restart_envoy, trust-bundle drift) is delivered once; run and audit written', async () => {
    getBundleCalls = 0;
    const { store, audit, job, queue, deliveries, close } = await setup('trust_bundle_drift', 'restart_envoy');
    try {
      assert.equal(await queue.enqueue(job), true);
      const counts = await settled(queue);
      assert.deepEqual(deliveries, [1], 'exactly one delivery');
      assert.equal(getBundleCalls, 1, 'GetBundle asked once');
      assert.equal(counts.failed, 1, 'BullMQ failed the job (UnrecoverableError), no attempt left waiting');
      assert.equal(counts.delayed, 0);
      assert.equal(posts.get('/envoy/quitquitquit'), undefined, 'Envoy was not restarted');
      const run = await store.getActionRun(job.id);
      assert.ok(run);
      assert.equal(run.state, 'failed');
      assert.ok(run.finishedAt !== null);
      assert.match(
        run.detail,
        /^precondition check failed \(permanent, not retried\): .*Bundle\/GetBundle: PERMISSION_DENIED: authorization denied/,
      );
      const trail = await audit.list();
      assert.deepEqual(
        trail.map((e) => e.type),
        ['job.started', 'job.failed'],
      );
      assert.equal(trail[1]?.data?.permanent, true);
    } finally {
      await close();
    }
  });

  it('a webhook answering 500 gets one POST per delivery (params.attempts 2); one answering 403 gets exactly one', async () => {
    const down = await setup('rotation_failed', 'notify', { url: `${base}/hook/down`, timeout: '1s', attempts: 2 });
    try {
      await down.queue.enqueue(down.job);
      await until('the second delivery to end', async () => ((await down.queue.counts()).completed === 1 ? true : null), 15_000);
      assert.deepEqual(down.deliveries, [1, 2], 'params.attempts 2 = two deliveries');
      assert.equal(posts.get('/hook/down'), 2, 'one POST per delivery: nothing retries inside the job');
      const run = await down.store.getActionRun(down.job.id);
      assert.equal(run?.state, 'failed');
      assert.match(run.detail, /answered 500/);
      assert.deepEqual(
        (await down.audit.list()).map((e) => e.type),
        ['job.started', 'job.retrying', 'job.started', 'job.failed'],
      );
    } finally {
      await down.close();
    }
    const refused = await setup('rotation_failed', 'notify', { url: `${base}/hook/forbidden`, timeout: '1s' });
    try {
      await refused.queue.enqueue(refused.job);
      const counts = await settled(refused.queue);
      assert.deepEqual(refused.deliveries, [1]);
      assert.equal(posts.get('/hook/forbidden'), 1);
      assert.equal(counts.failed, 1);
      const run = await refused.store.getActionRun(refused.job.id);
      assert.equal(run?.state, 'failed');
      assert.match(run.detail, /permanent, not retried.*answered 403/);
    } finally {
      await refused.close();
    }
  });
});
