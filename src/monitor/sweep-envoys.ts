import type { AuditLog } from '../knowledge/audit.js';
import type { Clock } from '../knowledge/clock.js';
import type { KnowledgeStore } from '../knowledge/knowledge-store.js';
import { observationStateKey, type Observation } from '../knowledge/model/observation.js';
import type { Workload } from '../knowledge/model/workload.js';
import type { EnvoyAdminPort } from '../ports/envoy-admin.port.js';

/** What one sweep did. */
export interface SweepResult {
  readonly probed: number;
  readonly failed: number;
  /** Observations whose state differs from the previous one (these were audited). */
  readonly changed: number;
}

/** Collaborators of the Envoy /certs probe. */
export interface EnvoySweepDeps {
  readonly store: KnowledgeStore;
  readonly audit: AuditLog;
  readonly envoy: EnvoyAdminPort;
  readonly clock: Clock;
  /** Probes in flight at once. */
  readonly concurrency: number;
  /**
   * Spread probe starts evenly over this many ms instead of bursting (0 = as fast as possible),
   * so a large fleet costs a steady trickle of CPU and never hammers the endpoints.
   */
  readonly spreadOverMs?: number;
  readonly onObservation?: (o: Observation, changed: boolean) => void;
}

/** The probe name used as the observation source of /certs. */
export const ENVOY_CERTS_SOURCE = 'envoy.certs';

/** One Envoy admin probe: the observation source it writes and how it reads. */
interface EnvoyProbe {
  readonly source: string;
  readonly path: string;
  read(envoy: EnvoyAdminPort, adminUrl: string, signal?: AbortSignal): Promise<Observation['data']>;
}

/** The probes run against every Envoy on each sweep, in order. */
const envoyProbes: readonly EnvoyProbe[] = [
  // The served SVID chain and CA certs: rotation and bundle drift.
  { source: ENVOY_CERTS_SOURCE, path: '/certs', read: (e, url, signal) => e.readCerts(url, signal) },
  // SDS and TLS counters: rejected updates, verification failures, secrets not ready.
  { source: 'envoy.stats', path: '/stats', read: (e, url, signal) => e.readStats(url, signal) },
];

/**
 * Runs every Envoy probe (/certs, /stats) against every workload's Envoy and records one
 * observation per (workload, probe).
 * A failing endpoint becomes a `probe.error` observation with its cause: never a crash,
 * never silently dropped. Only state changes are audited, so a steady fleet stays quiet.
 */
export async function sweepEnvoys(deps: EnvoySweepDeps, workloads: readonly Workload[], signal?: AbortSignal): Promise<SweepResult> {
  let failed = 0;
  let changed = 0;
  let next = 0;
  const total = workloads.length * envoyProbes.length;
  const gapMs = total > 0 ? (deps.spreadOverMs ?? 0) / total : 0;
  const t0 = performance.now();
  const worker = async (): Promise<void> => {
    while (next < total && signal?.aborted !== true) {
      const i = next++;
      const wait = t0 + i * gapMs - performance.now();
      if (wait > 1) await new Promise((r) => setTimeout(r, wait));
      const w = workloads[Math.floor(i / envoyProbes.length)];
      const p = envoyProbes[i % envoyProbes.length];
      if (w === undefined || p === undefined) break;
      const obs = await probe(deps, w, p, signal);
      if (obs.data.kind === 'probe.error') failed++;
      const res = await deps.store.recordObservation(obs);
      deps.onObservation?.(obs, res.changed);
      if (!res.changed) continue;
      changed++;
      await deps.audit.append({
        type: obs.data.kind === 'probe.error' ? 'observation.failed' : 'observation.changed',
        at: obs.observedAt,
        subject: w.id,
        message: describe(obs),
        data: { source: obs.source, state: observationStateKey(obs), previous: res.previous ? observationStateKey(res.previous) : null },
      });
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(deps.concurrency, total)) }, worker));
  return { probed: total, failed, changed };
}

async function probe(deps: EnvoySweepDeps, w: Workload, p: EnvoyProbe, signal?: AbortSignal): Promise<Observation> {
  try {
    const data = await p.read(deps.envoy, w.envoyAdminUrl, signal);
    return { subject: w.id, source: p.source, observedAt: deps.clock.now(), data };
  } catch (e) {
    return {
      subject: w.id, source: p.source, observedAt: deps.clock.now(),
      data: { kind: 'probe.error', probe: p.source, endpoint: `${w.envoyAdminUrl}${p.path}`, error: e instanceof Error ? e.message : String(e) },
    };
  }
}

function describe(o: Observation): string {
  const d = o.data;
  if (d.kind === 'probe.error') return `Envoy admin ${d.endpoint} could not be read: ${d.error}`;
  if (d.kind === 'envoy.stats') return `Envoy for ${o.subject} failure counters now ${observationStateKey(o).slice('stats:'.length)}`;
  const leaf = d.chain[0];
  if (leaf === undefined) return `Envoy for ${o.subject} serves no certificate (empty cert_chain)`;
  return `Envoy for ${o.subject} serves SVID serial ${leaf.serialNumber} valid until ${new Date(leaf.expiresAtMs).toISOString()}`;
}
