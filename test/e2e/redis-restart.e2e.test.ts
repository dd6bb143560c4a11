/**
 * A Redis restart never stops healing: the real CLI (`bin/spire-healer.js simulate`) runs the
 * envoy-sds-stuck scenario against a Redis with an append-only file that the test shuts down
 * gracefully (SIGTERM) and starts again on the same port and directory, at three points of the
 * scenario: before detection, while the remediation job runs, and during verification. Each run
 * must still heal, perform the restart once, lose no audit entry, and leave a verifying chain.
 */
import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { startRedisServer, type RedisServerHandle } from '../../src/adapters/redis/redis-server-process.js';
import { decodeEntry, type RawStreamEntry } from '../../src/adapters/redis/redis-audit-entry.js';
import { RedisAuditLog } from '../../src/adapters/redis/redis-audit-log.js';
import type { AuditEntry } from '../../src/knowledge/audit.js';
import type { SimulationReport } from '../../src/runtime/simulation-report.js';

const SCENARIO = 'examples/scenarios/envoy-sds-stuck.yaml';

/** Where Redis goes away: the first audit entry that matches, and for how long. */
interface RestartPoint {
  readonly name: string;
  readonly trigger: (e: AuditEntry) => boolean;
  readonly downMs: number;
  /** What must hold of the audit log for the restart to have happened at this point (head = last seq before the outage). */
  readonly atPoint: (entries: readonly AuditEntry[], head: number) => string | null;
}

const firstSeq = (entries: readonly AuditEntry[], pred: (e: AuditEntry) => boolean): number =>
  entries.find(pred)?.seq ?? Number.POSITIVE_INFINITY;

const POINTS: readonly RestartPoint[] = [
  {
    name: 'before detection',
    // The daemon is observing (an Envoy's serial recorded); the stuck Envoy is not overdue yet.
    trigger: (e) => e.type === 'observation.changed',
    downMs: 3_000,
    atPoint: (entries, head) =>
      firstSeq(entries, (e) => e.type === 'incident.opened') > head ? null : 'the incident was opened before Redis went away',
  },
  {
    name: 'while the job runs',
    trigger: (e) => e.type === 'job.started',
    downMs: 2_500,
    atPoint: (entries, head) =>
      firstSeq(entries, (e) => e.type === 'job.started') <= head ? null : 'the job had not started when Redis went away',
  },
  {
    name: 'during verification',
    trigger: (e) => e.type === 'plan.decided' && e.message.startsWith('waiting up to'),
    downMs: 1_500,
    atPoint: (entries, head) =>
      firstSeq(entries, (e) => e.type === 'verification.passed') > head ? null : 'verification had passed before Redis went away',
  },
];

/** Follows the audit stream (XREAD BLOCK) until `pred` matches an entry; returns it. */
async function waitForEntry(url: string, key: string, pred: (e: AuditEntry) => boolean, deadline: number): Promise<AuditEntry> {
  const r = new Redis(url, { maxRetriesPerRequest: null });
  try {
    let last = '0';
    while (Date.now() < deadline) {
      const res = await r.xread('COUNT', 100, 'BLOCK', 200, 'STREAMS', key, last);
      for (const raw of (res?.[0]?.[1] ?? []) as RawStreamEntry[]) {
        last = raw[0];
        const d = decodeEntry(raw);
        if (d.ok && pred(d.entry)) return d.entry;
      }
    }
    throw new Error('the trigger entry never appeared');
  } finally {
    r.disconnect();
  }
}

async function runWithRestart(t: TestContext, point: RestartPoint): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'spire-healer-aof-'));
  const reportPath = join(dir, 'report.json');
  let server: RedisServerHandle = await startRedisServer({ appendOnlyDir: dir });
  const { url, port } = server;
  const prefix = `restart-${point.name.replaceAll(' ', '-')}`;
  const child = spawn(
    process.execPath,
    ['bin/spire-healer.js', 'simulate', '--scenario', SCENARIO, '--prefix', prefix, '--quiet', '--report', reportPath],
    {
      env: { ...process.env, REDIS_URL: url },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => {
      resolve(code);
    });
  });
  try {
    const trigger = await waitForEntry(url, `${prefix}:audit`, point.trigger, Date.now() + 90_000);
    const probe = new Redis(url, { maxRetriesPerRequest: 1 });
    const head = Number(await probe.hget(`${prefix}:audit:head`, 'seq'));
    const headHash = await probe.hget(`${prefix}:audit:head`, 'hash');
    probe.disconnect();
    await server.stop(); // SIGTERM: a graceful shutdown, the AOF is flushed
    t.diagnostic(`${point.name}: Redis down after entry ${trigger.seq} (${trigger.type}), head ${head}, for ${point.downMs} ms`);
    await sleep(point.downMs);
    server = await startRedisServer({ port, appendOnlyDir: dir });

    const code = await Promise.race([exited, sleep(120_000).then(() => 'timeout' as const)]);
    assert.equal(code, 0, `simulate should heal and exit 0 after the restart ${point.name}; got ${String(code)}:\n${output.slice(-3000)}`);

    const report = JSON.parse(readFileSync(reportPath, 'utf8')) as SimulationReport;
    assert.equal(report.healed, true, 'healed');
    assert.deepEqual(report.expectations, { met: true, missing: [], unexpected: [] });
    assert.equal(report.actionsOnHealthyTargets, 0, 'no action on a healthy target');

    const conn = new Redis(url, { maxRetriesPerRequest: 3 });
    try {
      const audit = new RedisAuditLog(conn, prefix);
      const verification = await audit.verify();
      assert.equal(verification.ok, true, `audit chain verifies: ${JSON.stringify(verification)}`);
      const entries = await audit.list();
      // Nothing written before the outage was lost, and the chain continues from it.
      const atHead = entries.find((e) => e.seq === head);
      assert.equal(atHead?.hash, headHash, `entry ${head}, the head before the outage, is still there`);
      assert.ok(entries.length > head, 'the daemon appended after the restart');
      const miss = point.atPoint(entries, head);
      assert.equal(miss, null, `the restart happened ${point.name}: ${miss ?? ''}`);
      // No step performed twice: per step (job id without the attempt), at most one performed outcome.
      const performed = new Map<string, number>();
      for (const e of entries) {
        if (e.type !== 'job.succeeded' || e.data?.['performed'] !== true) continue;
        const step = String(e.data['jobId']).replace(/--a\d+(--r\d+)?$/, '');
        performed.set(step, (performed.get(step) ?? 0) + 1);
      }
      assert.ok(performed.size >= 1, 'the remediation was performed');
      for (const [step, n] of performed) assert.equal(n, 1, `step ${step} performed ${n} times`);
      const restarts = report.incidents.flatMap((i) => i.actions).filter((a) => a.performed);
      assert.equal(restarts.length, 1, `one action performed: ${JSON.stringify(report.incidents.map((i) => i.actions))}`);
    } finally {
      conn.disconnect();
    }
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('simulate through a Redis restart (append-only file, same port)', () => {
  for (const point of POINTS) {
    it(`heals with Redis restarted ${point.name}`, { timeout: 200_000 }, async (t) => {
      await runWithRestart(t, point);
    });
  }
});
