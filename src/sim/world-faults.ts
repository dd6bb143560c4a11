/**
 * The faults a simulated fleet can suffer, what each one targets and what heals it. Pure data:
 * SimWorld applies them, scenarios name them, reports list them.
 */

/** Every fault kind, in the vocabulary of scenarios and reports. */
export const SIM_FAULT_KINDS = [
  'envoy_sds_stuck',
  'envoy_no_certificate',
  'envoy_sds_disconnected',
  'handshake_errors',
  'svid_rotation_stopped',
  'agent_server_lost',
  'agent_down',
  'ca_rotation_not_propagated',
  'cloudrun_revision_not_ready',
] as const;

export type SimFaultKind = (typeof SIM_FAULT_KINDS)[number];

/** What a fault's `target` names. */
export type SimFaultTargetKind = 'workload' | 'node' | 'workload_or_configmap' | 'cloudrun_workload';

/** What ends a fault in the world. */
/**
 * What ends a fault: `pod_replacement` is a new pod (rollout restart, pod delete, new Cloud Run revision), which an Envoy container
 * restart is not.
 */
export type SimFaultHealer =
  'envoy_restart' | 'pod_replacement' | 'agent_restart' | 'bundle_sync_or_envoy_restart' | 'new_revision' | 'clear';

/** One fault kind's contract. */
export interface SimFaultSpec {
  readonly target: SimFaultTargetKind;
  readonly healedBy: SimFaultHealer;
  /** One sentence: what the fault does to the world. */
  readonly effect: string;
}

/** The ConfigMap target of `ca_rotation_not_propagated`. */
export const CONFIGMAP_TARGET = 'configmap';
/** The Cloud Run CA-bundle secret target of `ca_rotation_not_propagated` (a world with Cloud Run workloads only). */
export const SECRET_TARGET = 'secret';

export const SIM_FAULTS: Readonly<Record<SimFaultKind, SimFaultSpec>> = {
  envoy_sds_stuck: {
    target: 'workload',
    healedBy: 'envoy_restart',
    effect: "the Envoy's SDS stream stops delivering updates; it keeps serving its SVID until it expires",
  },
  envoy_no_certificate: {
    target: 'workload',
    healedBy: 'envoy_restart',
    effect: "the Envoy's listener loses its certificate (the SDS secret never arrives): connections are reset as secrets_not_ready",
  },
  envoy_sds_disconnected: {
    target: 'workload',
    healedBy: 'envoy_restart',
    effect:
      "the Envoy's SDS connection to its (healthy) agent drops and every reconnect fails: update_failure rises about once a second and it serves its last SVID until it expires",
  },
  handshake_errors: {
    target: 'workload',
    healedBy: 'pod_replacement',
    effect:
      'peers fail TLS handshakes with the Envoy (its pod is in a bad state): ssl.connection_error rises every tick until the pod is replaced',
  },
  svid_rotation_stopped: {
    target: 'workload',
    healedBy: 'agent_restart',
    effect: "the SPIRE agent stops rotating the workload's SVID; Envoy serves it until it expires",
  },
  agent_server_lost: {
    target: 'node',
    healedBy: 'agent_restart',
    effect: 'the SPIRE agent loses its server: last_sync_success freezes, no SVID (nor its own) rotates, health stays green',
  },
  agent_down: {
    target: 'node',
    healedBy: 'agent_restart',
    effect: "the SPIRE agent is down: its sockets are gone, Envoys' SDS fetches fail and nothing rotates",
  },
  ca_rotation_not_propagated: {
    target: 'workload_or_configmap',
    healedBy: 'bundle_sync_or_envoy_restart',
    effect:
      'the server prepares and then activates a new CA; the target (the spire-bundle ConfigMap, the Cloud Run CA-bundle secret or one Envoy) keeps the old bundle',
  },
  cloudrun_revision_not_ready: {
    target: 'cloudrun_workload',
    healedBy: 'new_revision',
    effect: "the Cloud Run service's latest revision is not ready (the latest ready revision stays on the previous one)",
  },
};

/** One injected fault. */
export interface SimFault {
  /** "<kind>--<target>--<n>", unique within the world. */
  readonly id: string;
  readonly kind: SimFaultKind;
  /** Workload id, node name, "configmap" or "secret" (see SIM_FAULTS[kind].target). */
  readonly target: string;
  readonly injectedAt: number;
  readonly healedAt: number | null;
}

/**
 * Faults that evicting the node's agent (DeleteAgent) heals once the agent re-attests. A modelling
 * choice after SPIRE: an evicted agent's sync is refused; one whose attestor can re-attest attests
 * again in-process (spire PR #4991; older agents needed their data wiped, spire#1257, #1644),
 * gets a new agent SVID and rebuilds its SVID cache, so a workload SVID the agent stopped rotating
 * (`svid_rotation_stopped`, the agent_not_rotating cause) is minted anew. Not healed by eviction:
 * `agent_server_lost` (re-attesting needs the very server it cannot reach; it re-attests once the
 * connection is back) and `agent_down` (no process to re-attest). A banned agent, or one whose
 * attestor cannot re-attest (join_token), stays evicted and broken.
 */
export const HEALED_BY_REATTESTATION: ReadonlySet<SimFaultKind> = new Set<SimFaultKind>(['svid_rotation_stopped']);

/**
 * Which of `faults` (those affecting a workload) its Envoy's restart heals when it comes back: the
 * kinds an Envoy restart heals, those only a new pod heals when `podReplaced`, and a stale bundle
 * on the workload itself.
 */
export function healedByEnvoyQuit(faults: readonly SimFault[], workloadId: string, podReplaced: boolean): SimFault[] {
  return faults.filter((f) => {
    const heals = SIM_FAULTS[f.kind].healedBy;
    return (
      heals === 'envoy_restart' ||
      (heals === 'pod_replacement' && podReplaced) ||
      (heals === 'bundle_sync_or_envoy_restart' && f.target === workloadId)
    );
  });
}

/**
 * Throws unless `target` fits the fault kind's target (a node, a workload, the ConfigMap, the bundle secret when there are Cloud Run
 * workloads, a Cloud Run workload) in a world.
 */
export function checkFaultTarget(
  kind: SimFaultKind,
  target: string,
  world: {
    readonly isNode: (t: string) => boolean;
    readonly workload: (t: string) => { readonly platform: string } | undefined;
    readonly hasCloudRun?: boolean;
  },
): void {
  const spec = SIM_FAULTS[kind];
  const w = world.workload(target);
  const ok =
    spec.target === 'node'
      ? world.isNode(target)
      : spec.target === 'workload_or_configmap'
        ? target === CONFIGMAP_TARGET || (target === SECRET_TARGET && world.hasCloudRun === true) || w !== undefined
        : spec.target === 'cloudrun_workload'
          ? w?.platform === 'cloudrun'
          : w !== undefined;
  if (!ok) throw new Error(`fault ${kind}: target "${target}" is not a ${spec.target.replace(/_/g, ' ')} of this world`);
}
