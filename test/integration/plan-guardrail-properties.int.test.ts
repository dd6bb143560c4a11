import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { RedisAuditLog } from '../../src/adapters/redis/redis-audit-log.js';
import { RedisKnowledgeStore } from '../../src/adapters/redis/redis-knowledge-store.js';
import type { RemediationRequest } from '../../src/knowledge/model/action-run.js';
import { makeIncidentId, type Incident } from '../../src/knowledge/model/incident.js';
import { allowedBy } from '../../src/plan/guardrails.js';
import type { Playbook } from '../../src/plan/playbooks/playbook.js';
import { reconcilePlans } from '../../src/plan/reconcile-plans.js';
import { playbook, step } from '../builders/playbooks.js';
import { uniquePrefix, withRedis } from '../support/redis.js';

const T0 = 1_800_000_000_000;
const SERVICES = ['a', 'b'];
const REPLICAS = 4;
const subjects = SERVICES.flatMap((s) => Array.from({ length: REPLICAS }, (_, i) => `shop/${s}-${i}`));

type Op =
  | { kind: 'open'; subject: number }
  | { kind: 'resolve'; which: number }
  | { kind: 'finish'; which: number; result: 'succeeded' | 'failed' | 'skipped' }
  | { kind: 'pause' }
  | { kind: 'resume' }
  | { kind: 'storm' }
  | { kind: 'calm' }
  | { kind: 'wait'; ms: number };

const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('open' as const), subject: fc.nat(subjects.length - 1) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('resolve' as const), which: fc.nat(20) }) },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('finish' as const),
      which: fc.nat(20),
      result: fc.constantFrom('succeeded' as const, 'failed' as const, 'skipped' as const),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ kind: 'pause' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'resume' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'storm' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'calm' as const }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('wait' as const), ms: fc.integer({ min: 100, max: 30_000 }) }) },
);

const budget: Playbook = playbook({
  steps: [step({ attempts: 2, backoffMs: 500 }), step({ action: 'redeploy' })],
  guardrails: {
    cooldownMs: 5_000,
    maxActionsPerPlaybook: { count: 5, windowMs: 60_000 },
    maxActionsPerSubject: { count: 2, windowMs: 60_000 },
    maxConcurrent: 3,
    blastRadius: { perService: { percent: 25 }, perNode: null },
    stormCooldownMs: 10_000,
  },
});

describe('guardrails hold under any sequence of incidents (property, real Redis)', () => {
  const redis = withRedis();

  it('no budget, concurrency or blast radius is ever exceeded, and nothing starts while paused or in a storm', async () => {
    const conn = redis.connect();
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 5, maxLength: 30 }), async (ops) => {
        const prefix = uniquePrefix('prop');
        const store = new RedisKnowledgeStore(conn, prefix);
        const audit = new RedisAuditLog(conn, prefix);
        for (const s of subjects) {
          await store.putWorkload({
            id: s,
            spiffeId: `spiffe://example.org/${s}`,
            trustDomain: 'example.org',
            platform: 'kubernetes',
            location: 'shop',
            owner: { kind: 'Deployment', name: s.slice(5, 6) },
            envoyAdminUrl: 'http://127.0.0.1:1',
          });
        }
        const jobs: { req: RemediationRequest; at: number }[] = [];
        let now = T0;
        const deps = {
          store,
          audit,
          playbooks: () => [budget],
          enqueue: (req: RemediationRequest) => {
            // Like the queue: a job id already added is not added again.
            if (jobs.some((j) => j.req.id === req.id)) return Promise.resolve(false);
            jobs.push({ req, at: now });
            return Promise.resolve(true);
          },
        };
        const opened: Incident[] = [];
        let storm: Incident | null = null;
        let lastStormEnd: number | null = null;
        for (const o of ops) {
          if (o.kind === 'open') {
            const s = subjects[o.subject] ?? '';
            const i: Incident = {
              id: makeIncidentId('rotation_failed', s, now),
              type: 'rotation_failed',
              subject: s,
              status: 'open',
              openedAt: now,
              resolvedAt: null,
              explanation: 'x',
              evidence: [],
              history: [],
            };
            if ((await store.openIncident(i)).opened) opened.push(i);
          } else if (o.kind === 'resolve' && opened.length > 0) {
            const i = opened[o.which % opened.length];
            if (i !== undefined) await store.resolveIncident(i.id, now, 'healthy');
          } else if (o.kind === 'finish' && jobs.length > 0) {
            const j = jobs[o.which % jobs.length]?.req;
            if (j !== undefined && (await store.getActionRun(j.id))?.state === 'queued') {
              await store.putActionRun({
                id: j.id,
                incidentId: j.incidentId,
                step: j.step,
                attempt: j.attempt,
                action: j.action,
                target: j.target,
                state: o.result,
                enqueuedAt: now,
                startedAt: now,
                finishedAt: now,
                detail: o.result,
                performed: o.result === 'succeeded',
              });
            }
          } else if (o.kind === 'pause') await store.setControl({ paused: true, reason: 'drill', since: now });
          else if (o.kind === 'resume') await store.setControl({ paused: false, reason: '', since: null });
          else if (o.kind === 'storm' && storm === null) {
            const candidate: Incident = {
              id: makeIncidentId('fleet_storm', 'fleet', now),
              type: 'fleet_storm',
              subject: 'fleet',
              status: 'open',
              openedAt: now,
              resolvedAt: null,
              explanation: 'storm',
              evidence: [],
              history: [],
            };
            // Storm, calm, storm at the same instant reuses the resolved storm's id: no storm opens then.
            if ((await store.openIncident(candidate)).opened) storm = candidate;
          } else if (o.kind === 'calm' && storm !== null) {
            await store.resolveIncident(storm.id, now, 'calm');
            storm = null;
            lastStormEnd = now;
          } else if (o.kind === 'wait') now += o.ms;

          const before = jobs.length;
          await reconcilePlans(deps, now);
          const started = jobs.slice(before).filter((j) => j.req.action !== 'notify');
          const paused = (await store.getControl()).paused;
          if (paused || storm !== null)
            assert.equal(started.length, 0, `started ${started.length} jobs while ${paused ? 'paused' : 'in a storm'}`);
          if (lastStormEnd !== null && now < lastStormEnd + 10_000) assert.equal(started.length, 0, 'started a job in the storm cooldown');
          const steps = jobs.filter((j) => j.req.action !== 'notify');
          const inWindow = steps.filter((j) => j.at >= now - 60_000);
          assert.ok(inWindow.length <= 5, `playbook budget exceeded: ${inWindow.length} in 60s`);
          for (const s of subjects) assert.ok(inWindow.filter((j) => j.req.target === s).length <= 2, `subject budget exceeded on ${s}`);
          // In flight: plans whose remediation phase is remediating/verifying/needs_human.
          const open = await store.listIncidents({ status: 'open' });
          const phases = await Promise.all(open.map(async (i) => ({ i, r: await store.getRemediation(i.id) })));
          const flying = phases.filter((p) => p.r !== null && ['remediating', 'verifying', 'needs_human'].includes(p.r.phase));
          assert.ok(flying.length <= 3, `max concurrent exceeded: ${flying.length}`);
          for (const svc of SERVICES) {
            const n = flying.filter((p) => p.i.subject.startsWith(`shop/${svc}-`)).length;
            assert.ok(n <= allowedBy({ percent: 25 }, REPLICAS), `blast radius exceeded on service ${svc}: ${n}`);
          }
        }
      }),
      {
        numRuns: 40,
        reporter: (r) => {
          if (r.failed) throw new Error(`${String(r.errorInstance)}\n${JSON.stringify(r.counterexample)}`);
        },
      },
    );
  });
});
