import type { Clock } from '../knowledge/clock.js';
import type { Observation } from '../knowledge/model/observation.js';
import type { Workload } from '../knowledge/model/workload.js';
import { configMapSubject, kubernetesResourceSubject } from '../knowledge/subject-ref.js';
import type { KubeFailure, KubeInventory, KubeWorkload } from '../ports/kubernetes.port.js';
import type { SpireAgentTarget } from './poll-spire.js';
import { probeError, recordObservation, type ObservationSink } from './record-observation.js';

/** Agent pod annotation naming the agent's admin socket as the daemon can reach it. */
export const AGENT_ADMIN_ENDPOINT_ANNOTATION = 'spire-healer.io/agent-admin-endpoint';
/** Agent pod annotation naming the base URL of the agent's health listener (/live, /ready). */
export const AGENT_HEALTH_URL_ANNOTATION = 'spire-healer.io/agent-health-url';

/** What applying one inventory snapshot did. */
export interface InventoryApplied {
  readonly workloads: number;
  readonly added: number;
  readonly removed: number;
  readonly agents: readonly SpireAgentTarget[];
  readonly changed: number;
}

/**
 * Keeps knowledge in step with the Kubernetes inventory: every running, scheduled pod with an
 * Envoy sidecar, a SPIFFE ID and an admin address is a workload (with the selectors its agent
 * attests it with); workloads this inventory reported before and no longer does are removed; the
 * trust-bundle ConfigMap is a `k8s.bundle` observation; agent pods annotated with their admin
 * endpoint become SPIRE agent targets. `known` is the id set from the previous snapshot (updated in place).
 */
export class KubernetesInventorySync {
  private readonly known = new Map<string, string>();
  private last: KubeInventory | null = null;

  constructor(private readonly deps: ObservationSink & { readonly clock: Clock; readonly bundleConfigMap: string }) {}

  async apply(inv: KubeInventory): Promise<InventoryApplied> {
    const { store } = this.deps;
    this.last = inv;
    const current = new Map<string, Workload>();
    for (const k of inv.workloads) {
      const w = toWorkload(k);
      if (w !== null) current.set(w.id, w);
    }
    let added = 0;
    let removed = 0;
    for (const [id, w] of current) {
      const json = JSON.stringify(w);
      if (this.known.get(id) === json) continue;
      if (!this.known.has(id)) added++;
      await store.putWorkload(w);
      this.known.set(id, json);
    }
    // Resources whose watch is failing may be stale: never remove workloads on a degraded pod list.
    if (!inv.degraded.includes('pods')) {
      for (const id of [...this.known.keys()]) {
        if (current.has(id)) continue;
        await store.removeWorkload(id);
        this.known.delete(id);
        removed++;
      }
    }
    const changed = (await recordObservation(this.deps, this.bundleObservation(inv))) ? 1 : 0;
    const agents = inv.agents.flatMap((a) => {
      const endpoint = a.annotations[AGENT_ADMIN_ENDPOINT_ANNOTATION];
      const health = a.annotations[AGENT_HEALTH_URL_ANNOTATION];
      return a.node === null || endpoint === undefined || endpoint === ''
        ? []
        : [{ node: a.node, adminEndpoint: endpoint, ...(health === undefined || health === '' ? {} : { healthUrl: health }) }];
    });
    return { workloads: current.size, added, removed, agents, changed: changed + added + removed };
  }

  /**
   * A watch reports changes only, so a ConfigMap that does not change would look stale to analysis.
   * While the watch is healthy its last state is still the truth: re-record it stamped now (same
   * state, so nothing is audited). Returns false when there is nothing to refresh.
   */
  async refresh(): Promise<boolean> {
    const inv = this.last;
    if (inv === null || inv.degraded.includes('configmaps')) return false;
    await recordObservation(this.deps, this.bundleObservation(inv));
    return true;
  }

  /** Records a failing list or watch as an observation on "kubernetes:<resource>". */
  async failure(f: KubeFailure): Promise<void> {
    await recordObservation(
      this.deps,
      probeError(kubernetesResourceSubject(f.resource), 'k8s.inventory', f.endpoint, f.message, this.deps.clock.now()),
    );
  }

  private bundleObservation(inv: KubeInventory): Observation {
    const [ns = 'spire', name = 'spire-bundle'] = this.deps.bundleConfigMap.split('/');
    const b = inv.bundle;
    return {
      subject: configMapSubject(ns, name),
      source: 'k8s.bundle',
      observedAt: this.deps.clock.now(),
      data: {
        kind: 'k8s.bundle',
        configMap: `${ns}/${name}`,
        certificates: b === null ? [] : b.certificates.map((c) => ({ serialNumber: c.serialHex, expiresAtMs: c.notAfterMs })),
        problems: b === null ? [`ConfigMap ${ns}/${name} does not exist`] : b.problems,
      },
    };
  }
}

/**
 * A pod as a fleet-model workload (its labels are the pod's, for playbooks' `match.labels`), or null
 * when it cannot be monitored yet (no node, identity or admin address, or terminating).
 */
export function toWorkload(k: KubeWorkload): Workload | null {
  if (k.node === null || k.spiffeId === null || k.envoyAdminUrl === null || k.terminating) return null;
  const td = /^spiffe:\/\/([^/]+)/.exec(k.spiffeId)?.[1];
  if (td === undefined) return null;
  return {
    id: k.id,
    spiffeId: k.spiffeId,
    trustDomain: td,
    platform: 'kubernetes',
    location: k.namespace,
    node: k.node,
    ...(k.owner === null ? {} : { owner: { kind: k.owner.kind, name: k.owner.name } }),
    selectors: [
      { type: 'k8s', value: `ns:${k.namespace}` },
      { type: 'k8s', value: `sa:${k.serviceAccount}` },
      { type: 'k8s', value: `pod-name:${k.podName}` },
      { type: 'k8s', value: `pod-uid:${k.uid}` },
    ],
    labels: { ...k.labels },
    envoyAdminUrl: k.envoyAdminUrl.replace(/\/+$/, ''),
  };
}
