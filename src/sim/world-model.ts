import { SIMULATED_MARKER } from '../knowledge/simulated-marker.js';
import type { Workload } from '../knowledge/model/workload.js';
import type { MintedCert, SimCa, SvidKeyPair } from './certs.js';
import type { SimEnvoy } from './envoy-sim.js';

/**
 * The marker of everything the simulated fleet serves, so that an action can tell a simulated
 * target from a real one by reading the target itself through the normal ports (the daemon's own
 * config is never trusted for this): the label `spire-healer.io/simulated: "true"` on every
 * Kubernetes object (pods, agent pods, controllers and their pod templates, the bundle ConfigMap,
 * namespaces, nodes), the label and the annotation on every Cloud Run service (the Cloud Run port
 * carries annotations), the same label as a k8s_psat `agent_pod_label` selector on the SPIRE
 * server's agent records, the RDN `OU=spire-healer.io/simulated` in the subject of every SPIRE CA
 * (so bundles, ConfigMaps and trust domains carry it), the Envoys' /server_info `node.metadata`,
 * and the labels of the workloads `targets()` reports. src/execute/action.ts reads it.
 */
export { SIMULATED_MARKER };
/** The labels/annotations that carry the marker. */
export const SIMULATED_LABELS: Readonly<Record<string, string>> = { [SIMULATED_MARKER]: 'true' };

/** How a SimWorld is built. Times are ms; `now` is the only clock the world reads. */
export interface SimWorldOptions {
  readonly trustDomain: string;
  /** SVID lifetime; at least 2s because X.509 times are whole seconds. */
  readonly svidTtlMs: number;
  /** How long a quit Envoy stays down before it comes back. */
  readonly envoyRestartMs: number;
  readonly now: () => number;
  /**
   * How workloads are registered: `pod` (default), one entry per pod (namespace, service account and
   * pod name), so every workload has its own SVID; `serviceAccount`, one entry per namespace and
   * service account, so the workloads of one account on a node share the SVID the agent holds for that
   * entry (one mint per entry and rotation, as SPIRE does).
   */
  readonly registrations?: Registrations;
}

/** How simulated workloads are registered at the SPIRE server. */
export type Registrations = 'pod' | 'serviceAccount';

/** A simulated workload: the fleet model's Workload minus the admin URL (the admin server assigns it), always on a node. */
export type SimWorkload = Omit<Workload, 'envoyAdminUrl' | 'node'> & { readonly node: string };

/** What addWorkload takes: a SimWorkload without the trust domain (the world's own); node defaults to "node-0". */
export type SimWorkloadSpec = Omit<SimWorkload, 'trustDomain' | 'node'> & { readonly node?: string };

/** The SPIRE agent of one node, as the world sees it. */
export interface SimAgentState {
  readonly node: string;
  /** False while its sockets are gone (agent_down). */
  readonly up: boolean;
  /** False while it cannot reach its server (agent_server_lost). */
  readonly syncing: boolean;
  /** Last successful sync with the server, ms. */
  readonly lastSyncSuccessMs: number;
}

/** The server's X.509 authorities: SPIRE's LocalAuthority slots. */
export interface SimAuthorityState {
  readonly active: SimCa;
  readonly prepared: SimCa | null;
  readonly old: SimCa | null;
}

/**
 * A node's agent as the SPIRE server's datastore holds it. DeleteAgent removes the record (the
 * agent's syncs are refused until it attests again); BanAgent keeps it, banned, and blocks
 * attestation until a DeleteAgent.
 */
export interface SimAgentAttestation {
  /** The server holds an unbanned record: ListAgents/GetAgent find it and its syncs succeed. */
  readonly attested: boolean;
  readonly banned: boolean;
  /** The node attestor supports re-attestation (k8s_psat does; join_token does not). */
  readonly canReattest: boolean;
  readonly attestationType: string;
  /** Bumped at every re-attestation: the agent holds a new agent SVID from then on. */
  readonly generation: number;
  /** When the record was last removed or banned; null while attested. */
  readonly evictedAt: number | null;
}

/** What one tick changed. */
export interface TickResult {
  /** SVIDs the agents rotated (reached half their TTL). */
  readonly rotated: number;
  /** Envoys whose served SVID changed by an SDS push. */
  readonly pushed: number;
  /** Envoys that came back from a restart. */
  readonly cameBack: number;
}

/** The world's own record of a workload (internal to SimWorld). */
export interface WorkloadEntry {
  readonly workload: SimWorkload;
  /** Reused across rotations: a rotation is one signature. */
  readonly keys: SvidKeyPair;
  /** The SVID the agent currently holds for this workload (what a new SDS stream receives). */
  agentSvid: MintedCert;
  readonly envoy: SimEnvoy;
  /** Faults active at the latest quit(s); the comeback heals them. */
  readonly healOnComeback: Set<string>;
}

/** The world's own record of a node's agent (internal to SimWorld). */
export interface AgentEntry {
  up: boolean;
  syncing: boolean;
  lastSyncMs: number;
}
