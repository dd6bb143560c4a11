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
  readonly onObservation?: (o: Observation, changed: boolean) => void;
}

/** The probe name used as the observation source. */
export const ENVOY_CERTS_SOURCE = 'envoy.certs';

/**
 * Reads GET /certs from every workload's Envoy and records one observation per workload.
 * A failing endpoint becomes a `probe.error` observation with its cause: never a crash,
 * never silently dropped. Only state changes are audited, so a steady fleet stays quiet.
 */
export async function sweepEnvoyCerts(deps: EnvoySweepDeps, workloads: readonly Workload[], signal?: AbortSignal): Promise<SweepResult> {
  let failed = 0;
  let changed = 0;
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < workloads.length && signal?.aborted !== true) {
      const w = workloads[next++];
      if (w === undefined) break;
      const obs = await probe(deps, w, signal);
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
  await Promise.all(Array.from({ length: Math.max(1, Math.min(deps.concurrency, workloads.length)) }, worker));
  return { probed: workloads.length, failed, changed };
}

async function probe(deps: EnvoySweepDeps, w: Workload, signal?: AbortSignal): Promise<Observation> {
  try {
    const data = await deps.envoy.readCerts(w.envoyAdminUrl, signal);
    return { subject: w.id, source: ENVOY_CERTS_SOURCE, observedAt: deps.clock.now(), data };
  } catch (e) {
    return {
      subject: w.id, source: ENVOY_CERTS_SOURCE, observedAt: deps.clock.now(),
      data: { kind: 'probe.error', probe: ENVOY_CERTS_SOURCE, endpoint: `${w.envoyAdminUrl}/certs`, error: e instanceof Error ? e.message : String(e) },
    };
  }
}

function describe(o: Observation): string {
  const d = o.data;
  if (d.kind === 'probe.error') return `Envoy admin ${d.endpoint} could not be read: ${d.error}`;
  const leaf = d.chain[0];
  if (leaf === undefined) return `Envoy for ${o.subject} serves no certificate (empty cert_chain)`;
  return `Envoy for ${o.subject} serves SVID serial ${leaf.serialNumber} valid until ${new Date(leaf.expiresAtMs).toISOString()}`;
}
