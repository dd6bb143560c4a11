/**
 * bench:monitor — one full monitor sweep (GET /certs + GET /stats per Envoy, observations written to a
 * real Redis) over 1,000 and 10,000 simulated Envoys, against a bare fetch loop over the same
 * endpoints with the same concurrency in the same run. Reports wall time, CPU (cores on average)
 * and RSS of this process, and the ratio monitor/bare. Targets (issue 3): 10k sweep <= 15 s,
 * <= 0.5 core, RSS <= 400 MB, ratio <= 1.5.
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { Redis } from 'ioredis';
import { EnvoyAdminHttp } from '../src/adapters/envoy/admin-http.js';
import { RedisAuditLog } from '../src/adapters/redis/redis-audit-log.js';
import { RedisKnowledgeStore } from '../src/adapters/redis/redis-knowledge-store.js';
import { startRedisServer } from '../src/adapters/redis/redis-server-process.js';
import { systemClock } from '../src/knowledge/clock.js';
import type { Workload } from '../src/knowledge/model/workload.js';
import { sweepEnvoys } from '../src/monitor/sweep-envoys.js';

const CONCURRENCY = 64;
const sizes = (process.env['BENCH_SIZES'] ?? '1000,10000').split(',').map(Number);

interface Measure {
  wallS: number;
  cpuS: number;
  cores: number;
  rssMb: number;
}

async function measure(fn: () => Promise<void>): Promise<Measure> {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let peak = process.memoryUsage().rss;
  const sampler = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 50);
  await fn();
  clearInterval(sampler);
  const wallS = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  peak = Math.max(peak, process.memoryUsage().rss);
  const cpuS = (cpu.user + cpu.system) / 1e6;
  return { wallS, cpuS, cores: cpuS / wallS, rssMb: peak / 2 ** 20 };
}

async function bareLoop(urls: readonly string[]): Promise<void> {
  let next = 0;
  const paths = ['/certs', '/stats?format=json'];
  const total = urls.length * paths.length;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < total) {
        const i = next++;
        const res = await fetch(`${urls[Math.floor(i / paths.length)] ?? ''}${paths[i % paths.length] ?? ''}`);
        await res.text();
      }
    }),
  );
}

async function startFleet(n: number): Promise<{ urls: string[]; stop: () => void }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'bench/sim-fleet-process.ts', String(n)], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout }).once('line', resolve);
    child.once('exit', (code) => {
      reject(new Error(`fleet process exited ${String(code)}`));
    });
  });
  const { urls } = JSON.parse(line) as { urls: string[] };
  return {
    urls,
    stop: () => {
      child.stdin.end();
    },
  };
}

/** Monitor interval the CPU average is taken over (the 15 s sweep budget). */
const INTERVAL_S = 15;
const fmt = (m: Measure): string =>
  `${m.wallS.toFixed(2)} s wall, ${m.cpuS.toFixed(2)} CPU-s (${m.cores.toFixed(2)} cores while running, ${(m.cpuS / INTERVAL_S).toFixed(2)} averaged over a ${INTERVAL_S} s interval), RSS ${m.rssMb.toFixed(0)} MB`;

const redisServer = await startRedisServer();
const redis = new Redis(redisServer.url);
redis.on('error', (e) => {
  process.stderr.write(`bench redis: ${e.message}\n`);
});
try {
  for (const n of sizes) {
    const t0 = performance.now();
    const fleet = await startFleet(n);
    process.stdout.write(`\n${n} Envoys (fleet built in ${((performance.now() - t0) / 1000).toFixed(1)} s in a child process)\n`);
    const prefix = `bench-${n}`;
    const store = new RedisKnowledgeStore(redis, prefix);
    const audit = new RedisAuditLog(redis, prefix);
    const workloads: Workload[] = fleet.urls.map((url, i) => ({
      id: `w-${i}`,
      spiffeId: `spiffe://example.org/w/${i}`,
      trustDomain: 'example.org',
      platform: 'kubernetes',
      location: 'ns',
      envoyAdminUrl: url,
    }));
    const deps = { store, audit, envoy: new EnvoyAdminHttp({ timeoutMs: 10_000 }), clock: systemClock, concurrency: CONCURRENCY };
    // First sweep records every observation as new (and audits it); steady state is what repeats.
    const first = await measure(async () => {
      await sweepEnvoys(deps, workloads);
    });
    const bare = await measure(() => bareLoop(fleet.urls));
    let failed = 0;
    const steady = await measure(async () => {
      failed = (await sweepEnvoys(deps, workloads)).failed;
    });
    process.stdout.write(`  bare fetch loop   : ${fmt(bare)}\n`);
    process.stdout.write(`  monitor, 1st sweep: ${fmt(first)} (all observations new, all audited)\n`);
    process.stdout.write(`  monitor, steady   : ${fmt(steady)}; probe failures ${failed}\n`);
    process.stdout.write(`  ratio steady/bare : ${(steady.wallS / bare.wallS).toFixed(2)} (wall)\n`);
    // The daemon spreads a sweep over most of its interval; this is the CPU it costs on average.
    const spreadMs = Math.max(1_000, n);
    const paced = await measure(async () => {
      await sweepEnvoys({ ...deps, spreadOverMs: spreadMs }, workloads);
    });
    process.stdout.write(`  monitor, paced    : ${fmt(paced)} (spread over ${spreadMs / 1000} s)\n`);
    fleet.stop();
  }
} finally {
  await redis.quit();
  await redisServer.stop();
}
