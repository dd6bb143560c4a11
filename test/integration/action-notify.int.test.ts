/**
 * notify against a real local HTTP server (node:http on 127.0.0.1:0), with knowledge in a real
 * Redis: the body, a 500-then-200 retry by a second delivery, a 400 that is not delivered again, a
 * receiver that never answers. One delivery is one POST: the deliveries are the job's (params.attempts).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import { EnvoyAdminHttp } from '../../src/adapters/envoy/admin-http.js';
import { RedisAuditLog } from '../../src/adapters/redis/redis-audit-log.js';
import { RedisKnowledgeStore } from '../../src/adapters/redis/redis-knowledge-store.js';
import { WebhookNotifier } from '../../src/adapters/webhook/webhook-notifier.js';
import { createNotifyAction } from '../../src/execute/actions/notify.action.js';
import type { ActionContext } from '../../src/execute/action.js';
import { processRemediationJob } from '../../src/execute/process-remediation-job.js';
import type { JobOutcome } from '../../src/execute/remediation-job.machine.js';
import { deliveriesOf } from '../../src/knowledge/errors/job-deliveries.js';
import { systemClock } from '../../src/knowledge/clock.js';
import type { ActionParams, RemediationRequest } from '../../src/knowledge/model/action-run.js';
import { makeIncidentId, type Incident } from '../../src/knowledge/model/incident.js';
import { startTestRedis, uniquePrefix } from '../support/redis.js';

interface Received {
  readonly path: string;
  readonly headers: IncomingMessage['headers'];
  readonly body: Record<string, unknown>;
}

describe('notify: POSTing incidents to a webhook', () => {
  let redis: Awaited<ReturnType<typeof startTestRedis>>;
  let conn: Redis;
  let http: Server;
  let base = '';
  const received: Received[] = [];
  /** How the server answers the n-th request (0-based) per path; 'hang' never answers. */
  const plans = new Map<string, (n: number) => number | 'hang'>();
  const notify = createNotifyAction(new WebhookNotifier());
  const actions = new Map([[notify.name, notify]]);

  before(async () => {
    redis = await startTestRedis();
    conn = new Redis(redis.url);
    http = createServer((req: IncomingMessage, res: ServerResponse) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const path = req.url ?? '';
        const n = received.filter((r) => r.path === path).length;
        received.push({ path, headers: req.headers, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown> });
        const answer = plans.get(path)?.(n) ?? 204;
        if (answer === 'hang') return;
        res.writeHead(answer, { 'content-type': 'text/plain' }).end(answer >= 400 ? `status ${answer} from the receiver` : '');
      });
    });
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  });
  after(async () => {
    http.closeAllConnections();
    await new Promise<void>((r) =>
      http.close(() => {
        r();
      }),
    );
    await conn.quit();
    await redis.stop();
  });

  async function setup(
    path: string,
    params: Omit<ActionParams, 'url'> = {},
  ): Promise<{ ctx: ActionContext; job: RemediationRequest; incident: Incident }> {
    const prefix = uniquePrefix();
    const store = new RedisKnowledgeStore(conn, prefix);
    const audit = new RedisAuditLog(conn, prefix);
    const now = Date.now();
    const incident: Incident = {
      id: makeIncidentId('rotation_failed', 'shop/web-0', now),
      type: 'rotation_failed',
      subject: 'shop/web-0',
      status: 'open',
      openedAt: now,
      resolvedAt: null,
      explanation: 'Envoy for shop/web-0 still serves an overdue SVID',
      evidence: [],
      history: [],
      cause: 'envoy_sds_stuck',
    };
    await store.openIncident(incident);
    await store.setRemediation(incident.id, {
      phase: 'needs_human',
      playbook: 'rotation',
      step: 2,
      action: null,
      updatedAt: now,
      reason: 'escalated: 2 steps did not help',
    });
    const job: RemediationRequest = {
      id: `${incident.id}--escalate`,
      incidentId: incident.id,
      step: 2,
      attempt: 1,
      action: 'notify',
      target: incident.subject,
      params: { url: `${base}${path}`, ...params },
      decidedAt: now,
      shadow: false,
    };
    return {
      ctx: { store, audit, clock: systemClock, envoy: new EnvoyAdminHttp(), rotation: { rotateAtFraction: 0.5, graceMs: 500 } },
      job,
      incident,
    };
  }

  const hits = (path: string): Received[] => received.filter((r) => r.path === path);

  /** Delivers `job` as the queue would: again after a retryable failure, while its deliveries (deliveriesOf) last. */
  async function deliver(job: RemediationRequest, ctx: ActionContext): Promise<JobOutcome[]> {
    const outcomes: JobOutcome[] = [];
    const maxAttempts = deliveriesOf(job);
    for (let attempt = 1; attempt <= maxAttempts; attempt++) {
      const out = await processRemediationJob(job, actions, ctx, new AbortController().signal, { attempt, maxAttempts });
      outcomes.push(out);
      if (out.retry !== true) break;
    }
    return outcomes;
  }

  it('a 500 fails the delivery (retryable), the next delivery succeeds on the 200; the body carries the incident, reason, playbook and step', async () => {
    plans.set('/hooks/T0K3N/flaky', (n) => (n === 0 ? 500 : 200));
    const { ctx, job, incident } = await setup('/hooks/T0K3N/flaky', {
      timeout: '2s',
      reason: 'escalated after the ladder',
      playbook: 'svid-rotation',
    });
    const [first, out] = await deliver(job, ctx);
    assert.ok(first && out);
    assert.equal(first.retry, true, 'the 500 sends the job back to the queue');
    assert.match(first.detail, /delivery 1\/3 failed, will retry: .*answered 500/);
    assert.equal(out.result, 'succeeded', out.detail);
    assert.match(out.detail, /HTTP 200/);
    assert.doesNotMatch(out.detail, /T0K3N/, 'the webhook path (often a secret) stays out of the detail');
    const got = hits('/hooks/T0K3N/flaky');
    assert.equal(got.length, 2);
    const { time: _sentFirst, ...firstBody } = got[0]?.body ?? {};
    const { time: _sentAgain, ...againBody } = got[1]?.body ?? {};
    assert.deepEqual(firstBody, againBody, 'the next delivery sends the same notification (only its send time differs)');
    const last = got[1];
    assert.ok(last);
    const body = last.body;
    assert.equal(body.id, job.id);
    assert.equal(last.headers['idempotency-key'], job.id);
    assert.equal(last.headers['content-type'], 'application/json');
    assert.deepEqual(
      {
        incidentId: body.incidentId,
        type: body.type,
        subject: body.subject,
        status: body.status,
        cause: body.cause,
        explanation: body.explanation,
        reason: body.reason,
        playbook: body.playbook,
        step: body.step,
      },
      {
        incidentId: incident.id,
        type: 'rotation_failed',
        subject: 'shop/web-0',
        status: 'open',
        cause: 'envoy_sds_stuck',
        explanation: incident.explanation,
        reason: 'escalated after the ladder',
        playbook: 'svid-rotation',
        step: 2,
      },
    );
    assert.ok(Math.abs(Date.parse(String(body.time)) - Date.now()) < 10_000);
  });

  it('takes reason and playbook from the plan when the params do not give them', async () => {
    const { ctx, job } = await setup('/plain');
    const out = await processRemediationJob(job, actions, ctx, new AbortController().signal);
    assert.equal(out.result, 'succeeded', out.detail);
    const body = hits('/plain')[0]?.body ?? {};
    assert.deepEqual([body.reason, body.playbook, body.step], ['escalated: 2 steps did not help', 'rotation', 2]);
  });

  it('a 400 fails at once, permanently, and is not delivered again', async () => {
    plans.set('/rejects', () => 400);
    const { ctx, job } = await setup('/rejects');
    const outcomes = await deliver(job, ctx);
    assert.equal(outcomes.length, 1, 'one delivery');
    const out = outcomes[0];
    assert.ok(out);
    assert.equal(out.result, 'failed');
    assert.equal(out.transient, undefined, 'not retryable');
    assert.equal(out.permanent, true);
    assert.match(out.detail, /permanent.*answered 400: status 400 from the receiver/);
    assert.equal(hits('/rejects').length, 1);
  });

  it('a 429 is delivered again; a redirect is not followed (a POST must not turn into a GET elsewhere) and fails permanently', async () => {
    plans.set('/busy', (n) => (n < 2 ? 429 : 202));
    const busy = await setup('/busy', { attempts: 3 });
    const delivered = await deliver(busy.job, busy.ctx);
    assert.deepEqual(
      delivered.map((o) => o.retry === true),
      [true, true, false],
      'params.attempts 3 = three deliveries',
    );
    const ok = delivered[2];
    assert.ok(ok);
    assert.equal(ok.result, 'succeeded', ok.detail);
    assert.match(ok.detail, /HTTP 202/);
    assert.equal(hits('/busy').length, 3, 'one POST per delivery');
    plans.set('/moved', () => 307);
    const moved = await setup('/moved');
    const [out, ...more] = await deliver(moved.job, moved.ctx);
    assert.ok(out);
    assert.equal(more.length, 0);
    assert.equal(out.result, 'failed');
    assert.equal(out.transient, undefined);
    assert.match(out.detail, /answered 307/);
    assert.equal(hits('/moved').length, 1);
  });

  it('a receiver that never answers: each delivery times out (retryable), then the last one ends the job failed', async () => {
    plans.set('/hangs', () => 'hang');
    const { ctx, job } = await setup('/hangs', { timeout: '150ms', attempts: 2 });
    const started = Date.now();
    const outcomes = await deliver(job, ctx);
    assert.equal(outcomes.length, 2, 'params.attempts 2 = two deliveries');
    const out = outcomes[1];
    assert.ok(out);
    assert.equal(out.result, 'failed');
    assert.equal(out.transient, true);
    assert.match(out.detail, /no answer within 150 ms/);
    assert.equal(hits('/hangs').length, 2);
    assert.ok(Date.now() - started < 3_000);
  });

  it('a missing or non-http URL fails the precheck permanently; nothing is sent', async () => {
    const { ctx, job } = await setup('/never');
    const bad = await processRemediationJob(
      { ...job, id: `${job.id}-bad`, params: { url: 'file:///etc/passwd' } },
      actions,
      ctx,
      new AbortController().signal,
    );
    assert.equal(bad.result, 'failed');
    assert.equal(bad.transient, undefined);
    assert.match(bad.detail, /must be http\(s\)/);
    const none = await processRemediationJob({ ...job, id: `${job.id}-none`, params: {} }, actions, ctx, new AbortController().signal);
    assert.match(none.detail, /parameter url is required/);
    assert.equal(hits('/never').length, 0);
  });
});
