/**
 * bench:cli — cold start of the compiled CLI (`node bin/spire-healer.js`, dist/ built by the
 * prebench:cli script), each case a new process, several runs, median:
 *
 * 1. `--help`: wall time to exit and peak RSS. Target (issue 12): <= 0.3 s and <= 80 MiB.
 * 2. `validate playbooks/defaults.yaml`: wall time to exit and peak RSS.
 * 3. `run --config <file>` (a Redis started here, no monitor sources, the shipped playbooks):
 *    wall time until /healthz answers 200, and peak RSS at that moment; then SIGTERM.
 *
 * Peak RSS is the kernel's high-water mark: /usr/bin/time's %M for the commands that exit, and
 * VmHWM of /proc/<pid>/status for `run` when it is ready. Without /usr/bin/time the short commands
 * are polled for VmHWM every 2 ms, which can miss the last moments (a lower bound; the output says so).
 *
 * BENCH_RUNS (default 7) sets the runs per case. The load average is printed with the figures:
 * the machine is shared, and a busy CPU stretches wall times.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRedisServer } from '../src/adapters/redis/redis-server-process.js';

const RUNS = Number(process.env['BENCH_RUNS'] ?? '7');
const BIN = 'bin/spire-healer.js';
const TIME = '/usr/bin/time';
const HELP_TARGET = { wallMs: 300, rssMiB: 80 };

interface Sample {
  readonly wallMs: number;
  readonly rssMiB: number;
}

const work = mkdtempSync(join(tmpdir(), 'bench-cli-'));
const hasTime = existsSync(TIME);

/** VmHWM (peak resident set) of a live process in MiB, or null once it is gone. */
function peakRssMiB(pid: number): number | null {
  try {
    const m = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m?.[1] === undefined ? null : Number(m[1]) / 1024;
  } catch {
    return null;
  }
}

/** Runs the CLI to exit; throws unless it exits 0. */
async function runToExit(args: readonly string[]): Promise<Sample> {
  const out = join(work, 'time.out');
  const [cmd, argv] = hasTime ? [TIME, ['-f', '%M', '-o', out, process.execPath, BIN, ...args]] : [process.execPath, [BIN, ...args]];
  const t0 = process.hrtime.bigint();
  const child = spawn(cmd, argv, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  let polled = 0;
  const poll = hasTime
    ? undefined
    : setInterval(() => {
        polled = Math.max(polled, child.pid === undefined ? 0 : (peakRssMiB(child.pid) ?? 0));
      }, 2);
  const [code] = (await once(child, 'exit')) as [number | null];
  const wallMs = Number(process.hrtime.bigint() - t0) / 1e6;
  if (poll !== undefined) clearInterval(poll);
  if (code !== 0) throw new Error(`spire-healer ${args.join(' ')} exited ${String(code)}:\n${stderr}`);
  const rssMiB = hasTime ? Number(readFileSync(out, 'utf8').trim().split('\n').pop()) / 1024 : polled;
  return { wallMs, rssMiB };
}

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const addr = srv.address();
  await new Promise<void>((resolve) => {
    srv.close(() => {
      resolve();
    });
  });
  if (addr === null || typeof addr === 'string') throw new Error('no port');
  return addr.port;
}

async function healthy(url: string): Promise<boolean> {
  try {
    const res = await fetch(url);
    await res.arrayBuffer();
    return res.status === 200;
  } catch {
    return false;
  }
}

/** Starts `run`, waits until /healthz answers 200, samples VmHWM, then stops it with SIGTERM. */
async function runUntilReady(redisUrl: string, i: number): Promise<Sample> {
  const port = await freePort();
  const config = join(work, `config-${i}.yaml`);
  writeFileSync(config, `redis:\n  url: ${redisUrl}\n  keyPrefix: bench-cli-${i}\nhttp:\n  listen: 127.0.0.1:${port}\n`);
  const t0 = process.hrtime.bigint();
  const child = spawn(process.execPath, [BIN, 'run', '--config', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = once(child, 'exit');
  const url = `http://127.0.0.1:${port}/healthz`;
  const deadline = Date.now() + 30_000;
  while (!(await healthy(url))) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`run exited before it was ready:\n${stderr}`);
    if (Date.now() > deadline) throw new Error(`run not ready within 30 s:\n${stderr}`);
    await new Promise((r) => setTimeout(r, 5));
  }
  const wallMs = Number(process.hrtime.bigint() - t0) / 1e6;
  const rssMiB = child.pid === undefined ? 0 : (peakRssMiB(child.pid) ?? 0);
  child.kill('SIGTERM');
  await exited;
  return { wallMs, rssMiB };
}

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[m] ?? 0) : ((s[m - 1] ?? 0) + (s[m] ?? 0)) / 2;
};

function report(name: string, samples: readonly Sample[]): { wallMs: number; rssMiB: number } {
  const wall = samples.map((s) => s.wallMs);
  const rss = samples.map((s) => s.rssMiB);
  const r = { wallMs: median(wall), rssMiB: median(rss) };
  console.log(
    `${name.padEnd(40)} wall median ${r.wallMs.toFixed(0).padStart(5)} ms (min ${Math.min(...wall).toFixed(0)}, max ${Math.max(...wall).toFixed(0)})` +
      `   peak RSS median ${r.rssMiB.toFixed(1).padStart(6)} MiB (max ${Math.max(...rss).toFixed(1)})`,
  );
  return r;
}

if (!existsSync('dist/main.js')) throw new Error('dist/ is missing: run `npm run build` (npm run bench:cli builds first)');
const load = (): string =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
console.log(`bench:cli — ${RUNS} runs per case, node ${process.version}, load average before: ${load()}`);
if (!hasTime) console.log(`(no ${TIME}: peak RSS of --help/validate polled every 2 ms, a lower bound)`);

const redis = await startRedisServer();
try {
  const cases: [string, (i: number) => Promise<Sample>][] = [
    ['--help', () => runToExit(['--help'])],
    ['validate playbooks/defaults.yaml', () => runToExit(['validate', 'playbooks/defaults.yaml'])],
    ['run (until /healthz answers 200)', (i) => runUntilReady(redis.url, i)],
  ];
  const results = new Map<string, { wallMs: number; rssMiB: number }>();
  for (const [name, measure] of cases) {
    const samples: Sample[] = [];
    for (let i = 0; i < RUNS; i++) samples.push(await measure(i));
    results.set(name, report(name, samples));
  }
  const help = results.get('--help');
  if (help !== undefined) {
    const ok = help.wallMs <= HELP_TARGET.wallMs && help.rssMiB <= HELP_TARGET.rssMiB;
    console.log(
      `target --help <= ${HELP_TARGET.wallMs} ms and <= ${HELP_TARGET.rssMiB} MiB: ${ok ? 'met' : 'NOT met'} ` +
        `(${help.wallMs.toFixed(0)} ms, ${help.rssMiB.toFixed(1)} MiB)`,
    );
  }
  console.log(`load average after: ${load()}`);
} finally {
  await redis.stop();
  rmSync(work, { recursive: true, force: true });
}
