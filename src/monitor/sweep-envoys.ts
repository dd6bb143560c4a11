import type { Clock } from '../knowledge/clock.js';
import type { Observation, ObservationSource } from '../knowledge/model/observation.js';
import type { Workload } from '../knowledge/model/workload.js';
import type { EnvoyAdminPort } from '../ports/envoy-admin.port.js';
import { runPaced } from '../support/paced-pool.js';
import { probeError, recordObservation, type ObservationSink } from './record-observation.js';

/** What one sweep did. */
export interface SweepResult {
  readonly probed: number;
  readonly failed: number;
  /** Observations whose state differs from the previous one (audited when news: see knowledge/observation-news.ts). */
  readonly changed: number;
}

/** Collaborators of the Envoy probes. */
export interface EnvoySweepDeps extends ObservationSink {
  readonly envoy: EnvoyAdminPort;
  readonly clock: Clock;
  /** Probes in flight at once. */
  readonly concurrency: number;
  /**
   * Spread probe starts evenly over this many ms instead of bursting (0 = as fast as possible),
   * so a large fleet costs a steady trickle of CPU and never hammers the endpoints.
   */
  readonly spreadOverMs?: number;
}

/** One Envoy admin probe: the observation source it writes and how it reads. */
interface EnvoyProbe {
  readonly source: ObservationSource;
  readonly path: string;
  read(envoy: EnvoyAdminPort, adminUrl: string, signal?: AbortSignal): Promise<Observation['data']>;
}

/** The probes run against every Envoy on each sweep, in order. */
const envoyProbes: readonly EnvoyProbe[] = [
  // The served SVID chain and CA certs: rotation and bundle drift.
  { source: 'envoy.certs', path: '/certs', read: (e, url, signal) => e.readCerts(url, signal) },
  // SDS and TLS counters: rejected updates, verification failures, secrets not ready.
  { source: 'envoy.stats', path: '/stats', read: (e, url, signal) => e.readStats(url, signal) },
];

/**
 * Runs every Envoy probe (/certs, /stats) against every workload's Envoy and records one
 * observation per (workload, probe).
 * A failing endpoint becomes a `probe.error` observation with its cause: never a crash,
 * never silently dropped. Only news is audited (a state change that is not a healthy rotation), so a steady fleet stays quiet.
 */
export async function sweepEnvoys(deps: EnvoySweepDeps, workloads: readonly Workload[], signal?: AbortSignal): Promise<SweepResult> {
  let failed = 0;
  let changed = 0;
  const total = workloads.length * envoyProbes.length;
  await runPaced(total, { concurrency: deps.concurrency, spreadOverMs: deps.spreadOverMs, signal }, async (i) => {
    const w = workloads[Math.floor(i / envoyProbes.length)];
    const p = envoyProbes[i % envoyProbes.length];
    if (w === undefined || p === undefined) return;
    const obs = await probe(deps, w, p, signal);
    if (obs.data.kind === 'probe.error') failed++;
    if (await recordObservation(deps, obs)) changed++;
  });
  return { probed: total, failed, changed };
}

async function probe(deps: EnvoySweepDeps, w: Workload, p: EnvoyProbe, signal?: AbortSignal): Promise<Observation> {
  try {
    const data = await p.read(deps.envoy, w.envoyAdminUrl, signal);
    return { subject: w.id, source: p.source, observedAt: deps.clock.now(), data };
  } catch (e) {
    return probeError(w.id, p.source, `${w.envoyAdminUrl}${p.path}`, e, deps.clock.now());
  }
}
