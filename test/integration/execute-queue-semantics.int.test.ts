import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BullmqRemediationQueue } from '../../src/adapters/queue/bullmq-remediation-queue.js';
import { RedisAuditLog } from '../../src/adapters/redis/redis-audit-log.js';
import { RedisKnowledgeStore } from '../../src/adapters/redis/redis-knowledge-store.js';
import { PermanentActionError, type ActionContext, type RemediationAction } from '../../src/execute/action.js';
import { processRemediationJob } from '../../src/execute/process-remediation-job.js';
import { systemClock } from '../../src/knowledge/clock.js';
import { makeActionRunId, type ActionName, type RemediationRequest } from '../../src/knowledge/model/action-run.js';
import { makeIncidentId, type Incident } from '../../src/knowledge/model/incident.js';
import { uniquePrefix, withRedis } from '../support/redis.js';

/** An action that fails with `errors` in turn, then succeeds; counts its effects. */
function scripted(name: ActionName, errors: Error[], hang = false): RemediationAction & { calls: number; effects: number } {
  const a = {
    name,
    calls: 0,
    effects: 0,
    precheck: () => Promise.resolve({ proceed: true as const, detail: 'still broken' }),
    perform: async (): Promise<string> => {
      a.calls++;
      const e = errors.shift();
      if (e !== undefined) throw e;
      if (hang) await new Promise(() => undefined);
      a.effects++;
      return 'done';
    },
  };
  return a;
}

describe('execute queue semantics on BullMQ (real Redis)', () => {
  const redis = withRedis();

  async function setup(action: RemediationAction, jobOver: Partial<RemediationRequest> = {}) {
    const prefix = uniquePrefix('q');
    const conn = redis.connect();
    const store = new RedisKnowledgeStore(conn, prefix);
    const audit = new RedisAuditLog(conn, prefix);
    const now = Date.now();
    const incident: Incident = {
      id: makeIncidentId('rotation_failed', 'shop/web-1', now),
      type: 'rotation_failed',
      subject: 'shop/web-1',
      status: 'open',
      openedAt: now,
      resolvedAt: null,
      explanation: 'x',
      evidence: [],
      history: [],
    };
    await store.openIncident(incident);
    const job: RemediationRequest = {
      id: makeActionRunId(incident.id, 0, 1),
      incidentId: incident.id,
      step: 0,
      attempt: 1,
      action: action.name,
      target: 'shop/web-1',
      decidedAt: now,
      shadow: false,
      ...jobOver,
    };
    const ctx: ActionContext = {
      store,
      audit,
      clock: systemClock,
      envoy: undefined as never,
      rotation: { rotateAtFraction: 0.5, graceMs: 1_000 },
    };
    const queue = new BullmqRemediationQueue({ redisUrl: redis.url, keyPrefix: prefix });
    const finished = new Promise<void>((resolve) => {
      void queue.startWorker(async (j, signal, delivery) => {
        const out = await processRemediationJob(j, new Map([[action.name, action]]), ctx, signal, delivery);
        if (out.retry !== true) setTimeout(resolve, 50);
        return out;
      });
    });
    return { store, audit, job, queue, finished };
  }

  it('a transient error is retried with backoff, then the job succeeds once', async () => {
    const flaky = scripted('restart_envoy', [Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })]);
    const { store, audit, job, queue, finished } = await setup(flaky);
    try {
      assert.equal(await queue.enqueue(job), true);
      assert.equal(await queue.enqueue(job), false, 'the same job id is never queued twice');
      await finished;
      assert.deepEqual([flaky.calls, flaky.effects], [2, 1]);
      assert.equal((await store.getActionRun(job.id))?.state, 'succeeded');
      assert.deepEqual(
        (await audit.list()).map((e) => e.type),
        ['job.started', 'job.retrying', 'job.started', 'job.succeeded'],
      );
    } finally {
      await queue.close(1_000);
    }
  });

  it("a redelivery that starts after the plan's deadline for the step is skipped: the plan has moved on", async () => {
    const flaky = scripted('restart_envoy', [Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })]);
    // The retry comes after BullMQ's 1 s backoff, past the step's deadline.
    const { store, audit, job, queue, finished } = await setup(flaky, { deadlineAt: Date.now() + 600 });
    try {
      await queue.enqueue(job);
      await finished;
      assert.deepEqual([flaky.calls, flaky.effects], [1, 0]);
      const run = await store.getActionRun(job.id);
      assert.ok(run);
      assert.equal(run.state, 'skipped');
      assert.match(run.detail, /the plan's deadline for this step passed at .*; the plan has moved on without this job/);
      assert.deepEqual(
        (await audit.list()).map((e) => e.type),
        ['job.started', 'job.retrying', 'job.started', 'job.skipped'],
      );
    } finally {
      await queue.close(1_000);
    }
  });

  it('a permanent error is not retried and ends the job failed', async () => {
    const denied = scripted('redeploy', [new PermanentActionError('deployments shop/web is paused')]);
    const { store, job, queue, finished } = await setup(denied);
    try {
      await queue.enqueue(job);
      await finished;
      assert.equal(denied.calls, 1);
      const run = await store.getActionRun(job.id);
      assert.equal(run?.state, 'failed');
      assert.match(run.detail, /permanent, not retried.*paused/);
    } finally {
      await queue.close(1_000);
    }
  });

  it('an action that hangs is aborted at its timeout, retried, and ends failed after the last delivery', async () => {
    const stuck = scripted('restart_envoy', [], true);
    const { store, job, queue, finished } = await setup(stuck, { timeoutMs: 200 });
    try {
      await queue.enqueue(job);
      await finished;
      assert.equal(stuck.calls, 3, 'three deliveries');
      const run = await store.getActionRun(job.id);
      assert.equal(run?.state, 'failed');
      assert.match(run.detail, /timed out/);
    } finally {
      await queue.close(1_000);
    }
  });
});
