import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startTestRedis } from '../support/redis.js';
import type { SimulationReport } from '../../src/runtime/simulation-report.js';

const run = promisify(execFile);
const BIN = 'bin/spire-healer.js';

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

async function cli(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  try {
    const { stdout, stderr } = await run(process.execPath, [BIN, ...args], { env: { ...process.env, ...env }, timeout: 120_000 });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof err.code === 'number' ? err.code : -1, stdout: err.stdout ?? '', stderr: err.stderr ?? '' };
  }
}

function redisCli(port: number, ...args: string[]): string {
  const r = spawnSync('redis-cli', ['-p', String(port), '--raw', ...args], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
}

describe('spire-healer CLI end to end (real binary, real Redis)', () => {
  let redis: Awaited<ReturnType<typeof startTestRedis>>;
  const dir = mkdtempSync(join(tmpdir(), 'spire-healer-e2e-'));

  before(async () => {
    redis = await startTestRedis();
  });
  after(async () => {
    await redis.stop();
  });

  it('simulate heals the stuck-SDS scenario and writes the report; audit verify catches tampering', async () => {
    const reportPath = join(dir, 'r.json');
    const prefix = 'e2e-stuck';
    const res = await cli(
      ['simulate', '--scenario', 'examples/scenarios/envoy-sds-stuck.yaml', '--report', reportPath, '--prefix', prefix],
      { REDIS_URL: redis.url },
    );
    assert.equal(res.code, 0, `simulate failed:\n${res.stdout}\n${res.stderr}`);
    assert.match(res.stdout, /DETECTED\s+shop\/web-1/);
    assert.match(res.stdout, /job done\s+shop\/web-1/);
    assert.match(res.stdout, /RECOVERED\s+shop\/web-1/);

    const report = JSON.parse(readFileSync(reportPath, 'utf8')) as SimulationReport;
    assert.equal(report.scenario, 'envoy-sds-stuck');
    assert.equal(report.healed, true);
    assert.equal(report.actionsOnHealthyTargets, 0);
    assert.deepEqual(
      report.incidents.map((i) => [i.type, i.subject]),
      [['rotation_failed', 'shop/web-1']],
    );
    const [incident] = report.incidents;
    assert.ok(incident);
    assert.ok(incident.resolvedAt !== null && Date.parse(incident.resolvedAt) > Date.parse(incident.openedAt));
    const [action] = incident.actions;
    assert.ok(action);
    assert.deepEqual([action.action, action.result, action.target, action.performed], ['restart_envoy', 'succeeded', 'shop/web-1', true]);

    // The audit log tells the whole story, in order.
    const audit = await cli(['audit', '--json', '--prefix', prefix, '--incident', incident.id], { REDIS_URL: redis.url });
    assert.equal(audit.code, 0, audit.stderr);
    const types = audit.stdout
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as { type: string }).type);
    for (const t of [
      'incident.opened',
      'plan.decided',
      'job.enqueued',
      'job.started',
      'job.succeeded',
      'incident.resolved',
      'verification.passed',
    ]) {
      assert.ok(types.includes(t), `audit log lacks ${t}: ${types.join(', ')}`);
    }
    assert.ok(types.indexOf('incident.opened') < types.indexOf('job.started'));
    assert.ok(types.indexOf('job.succeeded') < types.indexOf('incident.resolved'));

    // explain prints the finding, its evidence and what was done.
    const explained = await cli(['explain', '--prefix', prefix, 'rotation_failed shop/web-1'], { REDIS_URL: redis.url });
    assert.equal(explained.code, 0, explained.stderr);
    assert.match(explained.stdout, new RegExp(`^${incident.id}`));
    assert.match(explained.stdout, /rotation_failed on shop\/web-1: RESOLVED/);
    assert.match(explained.stdout, /evidence:\n\s+\S+\s+envoy\.certs on shop\/web-1: Envoy for shop\/web-1 serves SVID serial/);
    assert.match(explained.stdout, /restart_envoy on shop\/web-1: succeeded/);
    const unknown = await cli(['explain', '--prefix', prefix, 'nope'], { REDIS_URL: redis.url });
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /no incident "nope" under prefix e2e-stuck/);

    const ok = await cli(['audit', 'verify', '--prefix', prefix], { REDIS_URL: redis.url });
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    assert.match(ok.stdout, /hash chain intact/);

    // Delete one entry from the middle of the stream with redis-cli: verify must fail and name it.
    const ids = redisCli(redis.port, 'XRANGE', `${prefix}:audit`, '-', '+')
      .split('\n')
      .filter((l) => /^\d+-\d+$/.test(l));
    assert.ok(ids.length > 5);
    const victim = ids[3] ?? '';
    redisCli(redis.port, 'XDEL', `${prefix}:audit`, victim);
    const broken = await cli(['audit', 'verify', '--prefix', prefix], { REDIS_URL: redis.url });
    assert.equal(broken.code, 1, broken.stdout + broken.stderr);
    assert.match(broken.stdout, /BROKEN at entry #5/);
  });

  it('editing one audit entry makes verify fail and name it', async () => {
    const prefix = 'e2e-edit';
    const res = await cli(['simulate', '--scenario', 'examples/scenarios/envoy-sds-stuck.yaml', '--prefix', prefix, '--quiet'], {
      REDIS_URL: redis.url,
    });
    assert.equal(res.code, 0, res.stdout + res.stderr);
    // Streams cannot be edited in place: rewrite the whole stream with entry #3's message changed.
    const key = `${prefix}:audit`;
    const raw = spawnSync('redis-cli', ['-p', String(redis.port), '--json', 'XRANGE', key, '-', '+'], { encoding: 'utf8' });
    const entries = JSON.parse(raw.stdout) as [string, string[]][];
    redisCli(redis.port, 'DEL', key);
    entries.forEach(([id, fields], idx) => {
      const copy = [...fields];
      if (idx === 2) {
        const i = copy.findIndex((f, n) => n % 2 === 1 && f.includes('"message"'));
        copy[i] = (copy[i] ?? '').replace(/"message":"/, '"message":"(edited) ');
      }
      redisCli(redis.port, 'XADD', key, id, ...copy);
    });
    const broken = await cli(['audit', 'verify', '--prefix', prefix], { REDIS_URL: redis.url });
    assert.equal(broken.code, 1, broken.stdout + broken.stderr);
    assert.match(broken.stdout, /BROKEN at entry #3/);
  });

  it('pause and resume are the kill switch: audited, shown by status; pause needs a reason', async () => {
    const env = { REDIS_URL: redis.url };
    const prefix = 'e2e-control';
    assert.match((await cli(['status', '--prefix', prefix], env)).stdout, /remediation: active\n0 open incident\(s\)/);
    const noReason = await cli(['pause', '--prefix', prefix, '--reason', ' '], env);
    assert.equal(noReason.code, 2);
    assert.match(noReason.stderr, /pause needs --reason/);
    assert.equal((await cli(['pause', '--prefix', prefix, '--reason', 'change freeze'], env)).code, 0);
    assert.match((await cli(['status', '--prefix', prefix], env)).stdout, /PAUSED since .*: change freeze/);
    assert.match((await cli(['pause', '--prefix', prefix, '--reason', 'again'], env)).stdout, /already paused/);
    assert.equal((await cli(['resume', '--prefix', prefix], env)).code, 0);
    const audit = await cli(['audit', '--json', '--prefix', prefix], env);
    const entries = audit.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { type: string; message: string });
    assert.deepEqual(
      entries.map((e) => e.type),
      ['control.paused', 'control.resumed'],
    );
    assert.match(entries[0]?.message ?? '', /remediation paused: change freeze/);
    assert.equal(redisCli(redis.port, 'EXISTS', `${prefix}:control`).trim(), '1', 'the kill switch lives in Redis, shared by replicas');
    assert.match(
      (await cli(['plan', '--dry-run', '--prefix', prefix], env)).stdout,
      /no open incidents under prefix e2e-control: nothing would run/,
    );
    assert.equal((await cli(['plan', '--prefix', prefix], env)).code, 2, 'plan without --dry-run refuses');
  });

  it('validate checks shipped files and names every problem with line:column', async () => {
    const ok = await cli([
      'validate',
      'deploy/config.yaml',
      'deploy/playbooks.yaml',
      'playbooks/defaults.yaml',
      'examples/scenarios/healthy-fleet.yaml',
    ]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(ok.stdout.trim().split('\n').length, 4);
    const bad = join(dir, 'bad-playbooks.yaml');
    writeFileSync(
      bad,
      'playbooks:\n  - name: p\n    mode: auto\n    match: { types: [rotation_failed] }\n    steps:\n      - action: reboot_cluster\n        timeout: 5\n        verify: { timeout: soon }\n',
    );
    const res = await cli(['validate', bad]);
    assert.equal(res.code, 2);
    const lines = res.stderr.trim().split('\n');
    assert.equal(lines.length, 3, res.stderr);
    assert.match(lines[0] ?? '', /bad-playbooks\.yaml:6:17: playbooks\.0\.steps\.0\.action: /);
    assert.match(lines[1] ?? '', /:7:18: playbooks\.0\.steps\.0\.timeout: .*expected string/);
    assert.match(lines[2] ?? '', /:8:28: playbooks\.0\.steps\.0\.verify\.timeout: expected a duration/);
  });

  it('a broken scenario file: one line naming file and key, exit 2', async () => {
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'name: x\nfleet:\n  svidTtl: soon\n  workloads:\n    - {location: shop, name: web}\n');
    const res = await cli(['simulate', '--scenario', bad], { REDIS_URL: redis.url });
    assert.equal(res.code, 2);
    assert.match(res.stderr, new RegExp(`${bad.replace(/[/.]/g, '\\$&')}:3:\\d+: fleet\\.svidTtl: expected a duration`));
    assert.equal(res.stderr.trim().split('\n').length, 1);
  });

  it('a broken config file: one line naming file and key, exit 2', async () => {
    const bad = join(dir, 'config.yaml');
    writeFileSync(bad, 'redis:\n  url: redis://127.0.0.1:1\nintervals:\n  monitr: 5s\n');
    const res = await cli(['run', '--config', bad]);
    assert.equal(res.code, 2);
    assert.match(res.stderr, /config\.yaml:4:3: intervals\.monitr: .*nrecognized/);
  });
});
