/**
 * The simulated fleet's Kubernetes side: the fake API server seeded from the world (a pod with an
 * Envoy sidecar per Kubernetes workload, a spire-agent pod per node annotated with its admin
 * socket, the spire/spire-bundle ConfigMap), kept in step with the world's ConfigMap bundle.
 */
import type { MintedCert } from './certs.js';
import { FakeKubeApiServer } from './k8s/k8s-api-server.js';
import { BUNDLE_CONFIGMAP, seedKubernetes } from './k8s/k8s-seed.js';
import { KubeStore } from './k8s/k8s-store.js';
import type { SimWorld } from './world.js';

/** Agent pod annotations the daemon's discovery reads: the admin socket and the health listener. */
export const AGENT_ADMIN_ENDPOINT_ANNOTATION = 'spire-healer.io/agent-admin-endpoint';
export const AGENT_HEALTH_URL_ANNOTATION = 'spire-healer.io/agent-health-url';
export const SPIRE_NAMESPACE = 'spire';

/** A running fake Kubernetes API for a world. */
export interface SimKubernetes {
  readonly url: string;
  readonly store: KubeStore;
  readonly server: FakeKubeApiServer;
  /** Copies the world's ConfigMap bundle into the ConfigMap when it changed. */
  syncBundle(): void;
  close(): Promise<void>;
}

const pemOf = (certs: readonly MintedCert[]): string => certs.map((c) => c.pem.trim()).join('\n') + '\n';

/** Seeds and starts the fake API server. `adminUrl` and `agentAdminEndpoint` come from the other fakes. */
export async function startSimKubernetes(
  world: SimWorld, adminUrl: (workloadId: string) => string, agentOf: (node: string) => { readonly adminEndpoint: string; readonly healthUrl: string | undefined },
): Promise<SimKubernetes> {
  const store = new KubeStore();
  let bundleSerials = world.configMapBundle().map((c) => c.serialHex).join(',');
  seedKubernetes(store, {
    nodes: world.nodes(),
    spireNamespace: SPIRE_NAMESPACE,
    bundlePem: pemOf(world.configMapBundle()),
    agents: world.nodes().map((node) => {
      const a = agentOf(node);
      return {
        node, podName: `spire-agent-${node}`,
        annotations: { [AGENT_ADMIN_ENDPOINT_ANNOTATION]: a.adminEndpoint, ...(a.healthUrl === undefined ? {} : { [AGENT_HEALTH_URL_ANNOTATION]: a.healthUrl }) },
      };
    }),
    workloads: world.workloads().filter((w) => w.platform === 'kubernetes').map((w) => {
      const podName = w.id.slice(w.location.length + 1);
      const app = podName.replace(/-\d+$/, '');
      return {
        id: w.id, namespace: w.location, podName, node: w.node, serviceAccount: app,
        owner: { kind: 'Deployment' as const, name: app }, spiffeId: w.spiffeId, envoyAdminUrl: adminUrl(w.id),
      };
    }),
  });
  const server = new FakeKubeApiServer(store);
  const { url } = await server.start(0);
  return {
    url, store, server,
    syncBundle: () => {
      const certs = world.configMapBundle();
      const serials = certs.map((c) => c.serialHex).join(',');
      if (serials === bundleSerials) return;
      bundleSerials = serials;
      store.apply('configmaps', {
        apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: BUNDLE_CONFIGMAP.name, namespace: SPIRE_NAMESPACE }, data: { [BUNDLE_CONFIGMAP.key]: pemOf(certs) },
      });
    },
    close: () => server.close(),
  };
}
