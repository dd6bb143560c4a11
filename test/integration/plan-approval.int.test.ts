import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RedisAuditLog } from '../../src/adapters/redis/redis-audit-log.js';
import { RedisKnowledgeStore } from '../../src/adapters/redis/redis-knowledge-store.js';
import { approveCommand } from '../../src/cli/approve.command.js';
import { CliError } from '../../src/cli/exit-codes.js';
import type { RemediationRequest } from '../../src/knowledge/model/action-run.js';
import { makeIncidentId, type Incident } from '../../src/knowledge/model/incident.js';
import type { Playbook } from '../../src/plan/playbooks/playbook.js';
import { reconcilePlans } from '../../src/plan/reconcile-plans.js';
import { composition } from '../../src/main.js';
import { readPlaybookFiles } from '../../src/runtime/playbook-loader.js';
import { playbook, step } from '../builders/playbooks.js';
import { uniquePrefix, withRedis } from '../support/redis.js';

const T0 = 1_800_000_000_000;
const stuck: Incident = {
  id: makeIncidentId('rotation_failed', 'shop/web-1', T0),
  type: 'rotation_failed',
  subject: 'shop/web-1',
  status: 'open',
  openedAt: T0,
  resolvedAt: null,
  explanation: 'stuck',
  evidence: [],
  history: [],
  cause: 'envoy_sds_stuck',
};

describe('approve mode: each step waits for an approval bound to the plan hash (real Redis)', () => {
  const redis = withRedis();

  it('waits; approve lets it proceed; a plan changed after approval waits again', async () => {
    const prefix = uniquePrefix('approve');
    const conn = redis.connect();
    const store = new RedisKnowledgeStore(conn, prefix);
    const audit = new RedisAuditLog(conn, prefix);
    let playbooks: Playbook[] = [playbook({ mode: 'approve', steps: [step(), step({ action: 'redeploy' })] })];
    const jobs: RemediationRequest[] = [];
    const deps = {
      store,
      audit,
      playbooks: () => playbooks,
      enqueue: (r: RemediationRequest) => {
        jobs.push(r);
        return Promise.resolve(true);
      },
    };
    const loc = { redisUrl: redis.url, prefix };
    const lines: string[] = [];
    await store.openIncident(stuck);

    await reconcilePlans(deps, T0 + 1_000);
    await reconcilePlans(deps, T0 + 2_000);
    assert.equal(jobs.length, 0, 'nothing runs without approval');
    const waiting = await store.getRemediation(stuck.id);
    assert.equal(waiting?.phase, 'awaiting_approval');
    const firstHash = waiting.planHash ?? '';
    assert.match(firstHash, /^[0-9a-f]{16}$/);

    // Approving a plan other than the pending one is refused.
    await assert.rejects(
      approveCommand(composition, loc, stuck.id, { plan: '0000000000000000' }, (l) => lines.push(l), T0 + 2_500),
      CliError,
    );
    assert.equal(
      await approveCommand(composition, loc, stuck.id, { plan: firstHash, ttl: '10m', by: 'alice' }, (l) => lines.push(l), T0 + 3_000),
      0,
    );

    // The playbook changes before the next pass: the approval no longer covers the plan.
    playbooks = [playbook({ mode: 'approve', steps: [step({ jobTimeoutMs: 9_000 }), step({ action: 'redeploy' })] })];
    await reconcilePlans(deps, T0 + 4_000);
    assert.equal(jobs.length, 0, 'a changed plan waits again');
    const again = await store.getRemediation(stuck.id);
    assert.equal(again?.phase, 'awaiting_approval');
    assert.notEqual(again.planHash, firstHash);
    assert.match(again.reason, new RegExp(`approval by alice was for plan ${firstHash}`));

    await approveCommand(composition, loc, stuck.id, { ttl: '10m', by: 'bob' }, (l) => lines.push(l), T0 + 5_000);
    await reconcilePlans(deps, T0 + 6_000);
    assert.deepEqual(
      jobs.map((j) => [j.action, j.step]),
      [['restart_envoy', 0]],
    );

    // An expired approval does not carry over to a new plan step either: step 2 waits for its own.
    await store.putActionRun({
      id: jobs[0]?.id ?? '',
      incidentId: stuck.id,
      step: 0,
      attempt: 1,
      action: 'restart_envoy',
      target: 'shop/web-1',
      state: 'failed',
      enqueuedAt: T0 + 6_000,
      startedAt: T0 + 6_100,
      finishedAt: T0 + 6_200,
      detail: 'HTTP 500',
      performed: false,
    });
    await reconcilePlans(deps, T0 + 7_000);
    await reconcilePlans(deps, T0 + 8_000);
    assert.equal(jobs.length, 1);
    const step2 = await store.getRemediation(stuck.id);
    assert.deepEqual([step2?.phase, step2?.step], ['awaiting_approval', 1]);

    const types = (await audit.list({ incidentId: stuck.id })).map((e) => e.type);
    assert.deepEqual(
      types.filter((t) => t === 'plan.awaiting_approval' || t === 'plan.approved' || t === 'plan.decided'),
      ['plan.awaiting_approval', 'plan.approved', 'plan.awaiting_approval', 'plan.approved', 'plan.decided', 'plan.awaiting_approval'],
    );
  });

  it("defaults the approval's TTL to the playbook's approvalTtl; --ttl still wins", async () => {
    const prefix = uniquePrefix('approve-ttl');
    const conn = redis.connect();
    const store = new RedisKnowledgeStore(conn, prefix);
    const audit = new RedisAuditLog(conn, prefix);
    const dir = mkdtempSync(join(tmpdir(), 'approve-ttl-'));
    writeFileSync(
      join(dir, 'gated.yaml'),
      [
        'playbooks:',
        '  - name: gated',
        '    mode: approve',
        '    match: { types: [rotation_failed] }',
        '    steps:',
        '      - action: restart_envoy',
        '    guardrails:',
        '      approvalTtl: 3m',
        '',
      ].join('\n'),
    );
    const config = join(dir, 'config.yaml');
    writeFileSync(config, 'playbooks: [gated.yaml]\n');
    const loaded = await readPlaybookFiles([join(dir, 'gated.yaml')]);
    assert.deepEqual(loaded.problems, []);
    const deps = { store, audit, playbooks: () => loaded.playbooks, enqueue: () => Promise.resolve(true) };
    const loc = { redisUrl: redis.url, prefix };
    const lines: string[] = [];
    await store.openIncident(stuck);
    await reconcilePlans(deps, T0 + 1_000);
    assert.equal((await store.getRemediation(stuck.id))?.phase, 'awaiting_approval');

    // Without --config the shipped playbooks apply; "gated" is not one of them: no silent 15m.
    await assert.rejects(
      approveCommand(composition, loc, stuck.id, { by: 'alice' }, (l) => lines.push(l), T0 + 2_000),
      /playbook "gated".*--config.*--ttl/,
    );
    assert.equal(await store.getApproval(stuck.id), null);

    assert.equal(await approveCommand(composition, loc, stuck.id, { by: 'alice', config }, (l) => lines.push(l), T0 + 3_000), 0);
    assert.equal((await store.getApproval(stuck.id))?.expiresAt, T0 + 3_000 + 3 * 60_000);
    assert.match(lines.at(-1) ?? '', new RegExp(`valid until ${new Date(T0 + 3_000 + 3 * 60_000).toISOString()}`));

    assert.equal(await approveCommand(composition, loc, stuck.id, { by: 'bob', config, ttl: '40s' }, (l) => lines.push(l), T0 + 4_000), 0);
    assert.equal((await store.getApproval(stuck.id))?.expiresAt, T0 + 4_000 + 40_000);
  });
});
