/**
 * The simulated fleet's Kubernetes side: the fake API server seeded from the world (a pod with an
 * Envoy sidecar per Kubernetes workload, a spire-agent pod per node annotated with its admin
 * socket and health URL, the spire/spire-bundle ConfigMap), kept in step with the world both ways:
 *
 * - the world's ConfigMap bundle is copied into the ConfigMap when it changes, and a client that
 *   writes the server's bundle into the ConfigMap (PUT/PATCH) syncs the world's ConfigMap (which
 *   heals a ConfigMap ca_rotation_not_propagated);
 * - a stand-in kube-controller-manager recreates deleted pods under their old name with a new uid
 *   and IP (a rollout restart deletes every pod of the controller): a recreated agent pod restarts
 *   that node's SPIRE agent (world and fake, whose health listener gets a new port) and carries the
 *   agent's new endpoints as annotations; a recreated workload pod restarts its Envoy, which comes
 *   back with the agent's current SVID;
 * - pod logs: SPIRE agent logs rendered from the world, Envoy startup lines.
 *
 * Every object it seeds carries the label spire-healer.io/simulated: "true" (SIMULATED_MARKER), pod
 * templates included, so recreated pods keep it: what actions read to refuse this fleet in
 * production and anything else in a simulation.
 */
import { parseTrustBundle } from '../adapters/kubernetes/trust-bundle.js';
import type { MintedCert } from './certs.js';
import { FakeKubeApiServer } from './k8s/k8s-api-server.js';
import { startKubeControllers } from './k8s/k8s-controller.js';
import { BUNDLE_CONFIGMAP, seedKubernetes } from './k8s/k8s-seed.js';
import type { KubeChange, KubeObject } from './k8s/k8s-store.js';
import { KubeStore } from './k8s/k8s-store.js';
import { renderAgentLog, renderEnvoyLog } from './k8s/spire-agent-log.js';
import type { SimWorld } from './world.js';
import { SIMULATED_LABELS } from './world-model.js';

/** Agent pod annotations the daemon's discovery reads: the admin socket and the health listener. */
const AGENT_ADMIN_ENDPOINT_ANNOTATION = 'spire-healer.io/agent-admin-endpoint';
export const AGENT_HEALTH_URL_ANNOTATION = 'spire-healer.io/agent-health-url';
export const SPIRE_NAMESPACE = 'spire';
const AGENT_LABEL = { key: 'app', value: 'spire-agent' } as const;

/** What a recreated pod does to the rest of the simulated fleet. */
export interface SimKubernetesEffects {
  /** Restarts the node's SPIRE agent (world and fake agent), as the DaemonSet's new pod does. */
  restartAgent(node: string): Promise<void>;
  /** A workload's pod was recreated: its Envoy restarts. */
  restartWorkload(workloadId: string): void;
}

/** A running fake Kubernetes API for a world. */
export interface SimKubernetes {
  readonly url: string;
  readonly store: KubeStore;
  readonly server: FakeKubeApiServer;
  /** Copies the world's ConfigMap bundle into the ConfigMap when it changed. */
  syncBundle(): void;
  /** Sets the agent pod's endpoint annotations to what the node's agent serves now (after a restart outside Kubernetes). */
  refreshAgentAnnotations(node: string): void;
  close(): Promise<void>;
}

type AgentEndpoints = (node: string) => { readonly adminEndpoint: string; readonly healthUrl: string | undefined };

const pemOf = (certs: readonly MintedCert[]): string => certs.map((c) => c.pem.trim()).join('\n') + '\n';
const fingerprints = (certs: readonly MintedCert[]): string =>
  certs
    .map((c) => c.x509.fingerprint256.replaceAll(':', '').toLowerCase())
    .sort()
    .join(',');

function agentAnnotations(agentOf: AgentEndpoints, node: string, announceAdmin: boolean): Record<string, string> {
  const a = agentOf(node);
  return {
    ...(announceAdmin ? { [AGENT_ADMIN_ENDPOINT_ANNOTATION]: a.adminEndpoint } : {}),
    ...(a.healthUrl === undefined ? {} : { [AGENT_HEALTH_URL_ANNOTATION]: a.healthUrl }),
  };
}

const isAgentPod = (pod: KubeObject): boolean =>
  pod.metadata.namespace === SPIRE_NAMESPACE && pod.metadata.labels?.[AGENT_LABEL.key] === AGENT_LABEL.value;
const nodeOf = (pod: KubeObject): string => (pod.spec as { nodeName?: string } | undefined)?.nodeName ?? '';

/**
 * Seeds and starts the fake API server. `adminUrl` and `agentOf` come from the other fakes; without `effects` recreated pods change
 * nothing else.
 * `announceAdmin` false: agent pods carry no admin-endpoint annotation (the daemon then has no Debug reading of the agents).
 */
export async function startSimKubernetes(
  world: SimWorld,
  adminUrl: (workloadId: string) => string,
  agentOf: AgentEndpoints,
  effects?: SimKubernetesEffects,
  announceAdmin = true,
): Promise<SimKubernetes> {
  const store = new KubeStore();
  let bundleSerials = world
    .configMapBundle()
    .map((c) => c.serialHex)
    .join(',');
  seedKubernetes(store, {
    nodes: world.nodes(),
    spireNamespace: SPIRE_NAMESPACE,
    labels: SIMULATED_LABELS,
    bundlePem: pemOf(world.configMapBundle()),
    agents: world
      .nodes()
      .map((node) => ({ node, podName: `spire-agent-${node}`, annotations: agentAnnotations(agentOf, node, announceAdmin) })),
    workloads: world
      .workloads()
      .filter((w) => w.platform === 'kubernetes')
      .map((w) => {
        const podName = w.id.slice(w.location.length + 1);
        const app = podName.replace(/-\d+$/, '');
        return {
          id: w.id,
          namespace: w.location,
          podName,
          node: w.node,
          serviceAccount: app,
          owner: { kind: 'Deployment' as const, name: app },
          spiffeId: w.spiffeId,
          envoyAdminUrl: adminUrl(w.id),
        };
      }),
  });

  const stopControllers = startKubeControllers(store, {
    keepPodNames: true,
    beforeRecreate: async (pod) => {
      if (isAgentPod(pod)) {
        await effects?.restartAgent(nodeOf(pod));
        return agentAnnotations(agentOf, nodeOf(pod), announceAdmin);
      }
      const id = `${pod.metadata.namespace ?? ''}/${pod.metadata.name}`;
      if (world.workload(id)?.platform === 'kubernetes') effects?.restartWorkload(id);
      return undefined;
    },
  });

  // A client wrote the ConfigMap: when it now holds exactly the server's bundle, the world's ConfigMap is synced.
  const unsubscribe = store.subscribe((c: KubeChange) => {
    if (
      c.resource !== 'configmaps' ||
      c.type === 'DELETED' ||
      c.object.metadata.namespace !== SPIRE_NAMESPACE ||
      c.object.metadata.name !== BUNDLE_CONFIGMAP.name
    )
      return;
    const parsed = parseTrustBundle(
      {
        namespace: SPIRE_NAMESPACE,
        name: BUNDLE_CONFIGMAP.name,
        resourceVersion: c.object.metadata.resourceVersion,
        data: c.object.data as Record<string, string> | undefined,
      },
      BUNDLE_CONFIGMAP.key,
    );
    if (parsed.problems.length > 0) return;
    const written = parsed.certificates
      .map((x) => x.sha256)
      .sort()
      .join(',');
    if (written === fingerprints(world.configMapBundle()) || written !== fingerprints(world.trustBundle().certs)) return;
    world.syncConfigMapBundle();
    bundleSerials = world
      .configMapBundle()
      .map((x) => x.serialHex)
      .join(',');
  });

  const server = new FakeKubeApiServer(store, {
    podLogs: (pod, container) => {
      const startedAtMs = Date.parse(pod.metadata.creationTimestamp);
      if (isAgentPod(pod)) {
        const node = nodeOf(pod);
        return renderAgentLog({
          node,
          trustDomain: world.trustDomain,
          startedAtMs,
          nowMs: world.now(),
          spiffeIds: world.workloadsOn(node).map((w) => w.spiffeId),
          faults: world.faults().filter((f) => f.target === node),
        });
      }
      const id = `${pod.metadata.namespace ?? ''}/${pod.metadata.name}`;
      return container === 'envoy' && world.workload(id) !== undefined ? renderEnvoyLog(startedAtMs, world.envoy(id).restartCount) : '';
    },
  });
  const { url } = await server.start(0);
  return {
    url,
    store,
    server,
    syncBundle: () => {
      const certs = world.configMapBundle();
      const serials = certs.map((c) => c.serialHex).join(',');
      if (serials === bundleSerials) return;
      bundleSerials = serials;
      store.apply('configmaps', {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: BUNDLE_CONFIGMAP.name, namespace: SPIRE_NAMESPACE },
        data: { [BUNDLE_CONFIGMAP.key]: pemOf(certs) },
      });
    },
    refreshAgentAnnotations: (node) => {
      for (const pod of store.list('pods', SPIRE_NAMESPACE)) {
        if (!isAgentPod(pod) || nodeOf(pod) !== node) continue;
        store.update('pods', {
          ...pod,
          metadata: { ...pod.metadata, annotations: { ...pod.metadata.annotations, ...agentAnnotations(agentOf, node, announceAdmin) } },
        });
      }
    },
    close: async () => {
      stopControllers();
      unsubscribe();
      await server.close();
    },
  };
}
