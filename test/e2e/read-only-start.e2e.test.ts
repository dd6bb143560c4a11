/**
 * The shipped package starts where the Deployment runs it: as an unprivileged user (uid 65534),
 * on a read-only install, with no writable temp directory (`readOnlyRootFilesystem: true`).
 *
 * The install is made as production installs are (docs/operations.md): `npm pack` of this
 * checkout (dist/ built by pretest), unpacked into an empty directory with the lockfile, then
 * `npm ci --omit=dev --ignore-scripts --offline` from npm's cache (filled by the `npm ci` that
 * set up this checkout). Tests run as root, which ignores permission bits, so every command of the
 * CLI under test drops privileges with `setpriv`.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { startTestRedis, type TestRedis } from '../support/redis.js';
import { waitFor } from '../support/child-process.js';

const NOBODY = '65534';
const isRoot = process.getuid?.() === 0;

function sh(cmd: string, args: readonly string[], cwd: string): SpawnSyncReturns<string> {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')} failed (${String(r.status ?? r.signal)}):\n${r.stdout}\n${r.stderr}`);
  return r;
}

/** Every file and directory under `dir` without write bits (what a read-only root filesystem gives uid 65534). */
function makeReadOnly(dir: string): void {
  for (const e of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (e.isSymbolicLink()) continue;
    const p = join(e.parentPath, e.name);
    chmodSync(p, statSync(p).mode & 0o7555);
  }
  chmodSync(dir, 0o555);
}

/** The production packages of the lockfile copied from this checkout (used when npm's cache cannot serve them). */
function copyProductionPackages(pkgDir: string): void {
  const lock = JSON.parse(readFileSync('package-lock.json', 'utf8')) as { packages: Record<string, { dev?: boolean }> };
  for (const [path, meta] of Object.entries(lock.packages)) {
    if (!path.startsWith('node_modules/') || meta.dev === true || !existsSync(path)) continue;
    if (path.lastIndexOf('/node_modules/') > 0) continue; // nested: copied with its parent
    cpSync(path, join(pkgDir, path), { recursive: true, dereference: true });
  }
}

describe(
  'the packed, production-installed CLI on a read-only filesystem as uid 65534',
  { skip: !isRoot && 'needs root to drop privileges' },
  () => {
    let base = '';
    let pkgDir = '';
    let roTmp = '';
    let installedBy = '';
    let redis: TestRedis;

    before(async () => {
      // mkdtemp makes 0700 directories: open it up so uid 65534 can traverse it (tmpdir() itself is 1777).
      base = mkdtempSync(join(tmpdir(), 'spire-healer-ro-'));
      chmodSync(base, 0o755);
      for (let dir = dirname(base); dir !== dirname(dir); dir = dirname(dir))
        assert.ok((statSync(dir).mode & 0o001) !== 0, `${dir} is not traversable by uid 65534: run the tests with TMPDIR=/tmp`);
      const packed = sh('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', base], process.cwd());
      const [info] = JSON.parse(packed.stdout) as { filename: string; files: { path: string }[] }[];
      assert.ok(info !== undefined, packed.stdout);
      const shipped = info.files.map((f) => f.path);
      assert.ok(shipped.includes('dist/main.js'), 'the tarball ships dist/');
      assert.ok(
        shipped.includes('dist/adapters/spire/protos/workload.proto'),
        'the tarball ships the SPIRE protos next to the code that loads them',
      );
      assert.ok(shipped.includes('playbooks/defaults.yaml') && shipped.includes('schemas/playbooks.schema.json'));
      assert.deepEqual(
        shipped.filter((p) => p.startsWith('test/') || p.startsWith('src/') || p.endsWith('.tsbuildinfo')),
        [],
        'no tests, sources or build state in the tarball',
      );
      sh('tar', ['xzf', info.filename], base);
      pkgDir = join(base, 'package');
      writeFileSync(join(pkgDir, 'package-lock.json'), readFileSync('package-lock.json'));
      const ci = spawnSync('npm', ['ci', '--offline', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund'], {
        cwd: pkgDir,
        encoding: 'utf8',
        timeout: 300_000,
      });
      if (ci.status === 0) installedBy = 'npm ci --offline --omit=dev';
      else if (/ENOTCACHED/.test(ci.stderr)) {
        copyProductionPackages(pkgDir);
        installedBy = 'production packages of the lockfile, copied (npm cache incomplete)';
      } else assert.fail(`npm ci failed:\n${ci.stderr}`);
      assert.ok(!existsSync(join(pkgDir, 'node_modules', 'tsx')), 'tsx is a dev dependency: not installed');
      makeReadOnly(pkgDir);
      roTmp = join(base, 'unwritable-tmp');
      mkdirSync(roTmp, { mode: 0o555 });
      chmodSync(roTmp, 0o555);
      redis = await startTestRedis();
    });
    after(async () => {
      await redis.stop();
      rmSync(base, { recursive: true, force: true });
    });

    const asNobody = ['--reuid', NOBODY, '--regid', NOBODY, '--clear-groups'];
    const env = (): NodeJS.ProcessEnv => ({ PATH: process.env['PATH'] ?? '/usr/bin:/bin', TMPDIR: roTmp, HOME: roTmp });
    const cli = (args: readonly string[]): SpawnSyncReturns<string> =>
      spawnSync('setpriv', [...asNobody, process.execPath, join(pkgDir, 'bin/spire-healer.js'), ...args], {
        cwd: pkgDir,
        env: env(),
        encoding: 'utf8',
        timeout: 60_000,
      });

    it('the setting is hostile: uid 65534 can write neither the temp directory nor the install', (t) => {
      t.diagnostic(`installed with: ${installedBy}`);
      const probe = (dir: string): SpawnSyncReturns<string> =>
        spawnSync('setpriv', [...asNobody, process.execPath, '-e', `require('fs').mkdtempSync(${JSON.stringify(join(dir, 'x-'))})`], {
          env: env(),
          encoding: 'utf8',
        });
      for (const dir of [roTmp, pkgDir, join(pkgDir, 'dist'), join(pkgDir, 'node_modules')]) {
        const r = probe(dir);
        assert.notEqual(r.status, 0, `uid 65534 could write ${dir}`);
        assert.match(r.stderr, /EACCES/);
      }
    });

    it('--help works', () => {
      const r = cli(['--help']);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /Usage: spire-healer/);
      assert.match(r.stdout, /validate/);
      assert.equal(r.stderr, '');
    });

    it('validate of the shipped playbooks and of an example scenario works', () => {
      const r = cli(['validate', 'playbooks/defaults.yaml', 'examples/scenarios/envoy-sds-stuck.yaml']);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /^playbooks\/defaults\.yaml: ok \(\d+ playbook/m);
      assert.match(r.stdout, /^examples\/scenarios\/envoy-sds-stuck\.yaml: ok \(scenario envoy-sds-stuck/m);
    });

    it('validate still reports a broken file (exit 2), so the ok above means something', () => {
      const broken = join(base, 'broken.yaml');
      writeFileSync(broken, 'playbooks:\n  - name: x\n    when: {}\n');
      chmodSync(broken, 0o444);
      const r = cli(['validate', broken]);
      assert.equal(r.status, 2, r.stdout + r.stderr);
      assert.match(r.stderr, /broken\.yaml:\d+:\d+/);
    });

    it('run starts with the shipped playbooks and answers /healthz, then stops on SIGTERM', async () => {
      const port = await new Promise<number>((resolve) => {
        const srv = createServer().listen(0, '127.0.0.1', () => {
          const a = srv.address();
          srv.close(() => {
            resolve(typeof a === 'object' && a !== null ? a.port : 0);
          });
        });
      });
      const config = join(base, 'config.yaml');
      writeFileSync(config, `redis:\n  url: ${redis.url}\n  keyPrefix: ro-start\nhttp:\n  listen: 127.0.0.1:${port}\n`);
      chmodSync(config, 0o444);
      const child = spawn('setpriv', [...asNobody, process.execPath, join(pkgDir, 'bin/spire-healer.js'), 'run', '--config', config], {
        cwd: pkgDir,
        env: env(),
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
      let gone = false;
      void exited.then(() => (gone = true));
      try {
        const body = await waitFor(
          '/healthz 200',
          async () => {
            assert.ok(!gone, `run exited early:\n${stderr}`);
            const res = await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => null);
            return res?.status === 200 ? await res.text() : null;
          },
          30_000,
          () => `\n${stderr}`,
        );
        assert.match(body, /"ok":true/);
      } finally {
        child.kill('SIGTERM');
      }
      const [code] = await exited;
      assert.equal(code, 0, stderr);
    });
  },
);
