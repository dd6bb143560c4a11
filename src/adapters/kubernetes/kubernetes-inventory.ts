/**
 * KubernetesInventoryPort over @kubernetes/client-node 1.4: resilient informers for pods (all
 * namespaces), the trust-bundle ConfigMap, ReplicaSets (owner resolution) and Deployments /
 * StatefulSets / DaemonSets (rollout state); throttled snapshots; strategic-merge rollout
 * restarts and pod deletes; the live reads and writes of kube-remediation.ts.
 */
import { AppsV1Api, CoreV1Api, PatchStrategy, setHeaderOptions, type KubeConfig, type KubernetesObject } from '@kubernetes/client-node';
import type {
  KubeConfigMapKeyRef,
  KubeController,
  KubeEventInput,
  KubeFailure,
  KubeInventoryHandlers,
  KubeInventoryWatch,
  KubePod,
  KubePodLogOptions,
  KubeRolloutKind,
  KubernetesInventoryPort,
  KubeTrustBundleRead,
} from '../../ports/kubernetes.port.js';
import { buildInventory, KUBE_ANNOTATIONS, type InventoryRules, type InventorySources } from './inventory-view.js';
import { makeKubeConfig, type KubeConnection } from './kube-config.js';
import { KubernetesError, toKubeFailure } from './kube-failure.js';
import * as live from './kube-remediation.js';
import { ResilientInformer, type BackoffPolicy, type InformerSpec } from './resilient-informer.js';

/** Options of the adapter; everything but `connection` has a default. */
export interface KubernetesInventoryOptions {
  readonly connection: KubeConnection;
  /** Where the SPIRE agent pods run. Default "spire". */
  readonly spireNamespace?: string;
  /** Namespace of the trust-bundle ConfigMap. Default: spireNamespace. */
  readonly bundleNamespace?: string;
  /** Default "spire-bundle". */
  readonly bundleConfigMap?: string;
  /** Default "bundle.crt". */
  readonly bundleKey?: string;
  /** Labels of agent pods in the SPIRE namespace. Default { app: "spire-agent" }. */
  readonly agentLabels?: Readonly<Record<string, string>>;
  /** For SPIFFE IDs derived from namespace and service account; none when absent. */
  readonly trustDomain?: string;
  /** Minimum spacing of snapshots (and the delay after a change). Default 150 ms. */
  readonly snapshotThrottleMs?: number;
  /** Restart backoff after an informer error. Default 250 ms doubling to 30 s. */
  readonly backoff?: BackoffPolicy;
  /** Clock for observedAtMs. Default Date.now. */
  readonly now?: () => number;
  /** reportingInstance of the Events it records (e.g. the daemon's pod name). Default "spire-healer". */
  readonly instance?: string;
}

const RESTART_PATCH = (at: Date): object => ({
  spec: { template: { metadata: { annotations: { [KUBE_ANNOTATIONS.restartedAt]: at.toISOString().replace(/\.\d{3}Z$/, 'Z') } } } },
});

/** The real-cluster inventory adapter. */
export class KubernetesInventory implements KubernetesInventoryPort {
  private readonly kc: KubeConfig;
  private readonly core: CoreV1Api;
  private readonly apps: AppsV1Api;
  private readonly endpoint: string;
  private readonly rules: InventoryRules;
  private readonly live: live.KubeRemediationDeps;

  /** Builds clients; nothing is contacted until watchInventory() or a write. */
  constructor(private readonly options: KubernetesInventoryOptions) {
    this.kc = makeKubeConfig(options.connection);
    this.core = this.kc.makeApiClient(CoreV1Api);
    this.apps = this.kc.makeApiClient(AppsV1Api);
    this.endpoint = this.kc.getCurrentCluster()?.server ?? '(unknown)';
    this.rules = {
      spireNamespace: options.spireNamespace ?? 'spire',
      bundleNamespace: options.bundleNamespace ?? options.spireNamespace ?? 'spire',
      bundleConfigMap: options.bundleConfigMap ?? 'spire-bundle',
      bundleKey: options.bundleKey ?? 'bundle.crt',
      agentLabels: options.agentLabels ?? { app: 'spire-agent' },
      trustDomain: options.trustDomain ?? null,
    };
    this.live = {
      core: this.core,
      apps: this.apps,
      endpoint: this.endpoint,
      spireNamespace: this.rules.spireNamespace,
      agentLabels: this.rules.agentLabels,
      instance: options.instance ?? live.EVENT_COMPONENT,
    };
  }

  /** Base URL of the API server. */
  get server(): string {
    return this.endpoint;
  }

  watchInventory(handlers: KubeInventoryHandlers): KubeInventoryWatch {
    const { core, apps, rules } = this;
    const ns = rules.bundleNamespace;
    const cmSelector = `metadata.name=${rules.bundleConfigMap}`;
    const throttleMs = this.options.snapshotThrottleMs ?? 150;
    const backoff = this.options.backoff ?? { initialMs: 250, maxMs: 30_000 };
    const now = this.options.now ?? Date.now;
    let closed = false;
    let timer: NodeJS.Timeout | null = null;

    const emit = (): void => {
      timer = null;
      if (closed || !informers.every((i) => i.synced)) return;
      const src: InventorySources = {
        pods: pods.items(),
        replicaSets: replicaSets.items(),
        deployments: deployments.items(),
        statefulSets: statefulSets.items(),
        daemonSets: daemonSets.items(),
        configMaps: configMaps.items(),
      };
      const degraded = informers.filter((i) => i.degraded).map((i) => i.resource);
      try {
        handlers.onSnapshot(buildInventory(src, rules, degraded, now()));
      } catch {
        // A throwing consumer must not break the watch loop.
      }
    };
    const schedule = (): void => {
      if (!closed && timer === null) timer = setTimeout(emit, throttleMs);
    };
    const onFailure = (failure: KubeFailure, retryInMs: number): void => {
      if (closed) return;
      try {
        handlers.onError(failure, retryInMs);
      } catch {
        // As above.
      }
      schedule();
    };
    const make = <T extends KubernetesObject>(spec: InformerSpec<T>): ResilientInformer<T> =>
      new ResilientInformer<T>(this.kc, spec, this.endpoint, { onChange: schedule, onFailure }, backoff);

    const pods = make({ resource: 'pods', path: '/api/v1/pods', list: () => core.listPodForAllNamespaces() });
    const configMaps = make({
      resource: `configmaps ${ns}/${rules.bundleConfigMap}`,
      path: `/api/v1/namespaces/${encodeURIComponent(ns)}/configmaps`,
      list: () => core.listNamespacedConfigMap({ namespace: ns, fieldSelector: cmSelector }),
      fieldSelector: cmSelector,
    });
    const replicaSets = make({
      resource: 'replicasets',
      path: '/apis/apps/v1/replicasets',
      list: () => apps.listReplicaSetForAllNamespaces(),
    });
    const deployments = make({
      resource: 'deployments',
      path: '/apis/apps/v1/deployments',
      list: () => apps.listDeploymentForAllNamespaces(),
    });
    const statefulSets = make({
      resource: 'statefulsets',
      path: '/apis/apps/v1/statefulsets',
      list: () => apps.listStatefulSetForAllNamespaces(),
    });
    const daemonSets = make({ resource: 'daemonsets', path: '/apis/apps/v1/daemonsets', list: () => apps.listDaemonSetForAllNamespaces() });
    const informers: ResilientInformer<KubernetesObject>[] = [pods, configMaps, replicaSets, deployments, statefulSets, daemonSets];
    for (const i of informers) i.start();

    return {
      close: async () => {
        closed = true;
        if (timer !== null) clearTimeout(timer);
        timer = null;
        await Promise.all(informers.map((i) => i.stop()));
      },
    };
  }

  async restartRollout(kind: KubeRolloutKind, namespace: string, name: string, at: Date): Promise<void> {
    const resource = `${kind.toLowerCase()}s ${namespace}/${name}`;
    const body = RESTART_PATCH(at);
    const strategic = setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch);
    try {
      if (kind === 'Deployment') {
        const current = await this.apps.readNamespacedDeployment({ name, namespace });
        if (current.spec?.paused === true) {
          throw new KubernetesError({
            message: `kubernetes restart ${resource} at ${this.endpoint} refused: the Deployment is paused (resume it first)`,
            endpoint: this.endpoint,
            resource,
            code: 'invalid',
            httpStatus: null,
          });
        }
        await this.apps.patchNamespacedDeployment({ name, namespace, body }, strategic);
      } else if (kind === 'StatefulSet') {
        await this.apps.patchNamespacedStatefulSet({ name, namespace, body }, strategic);
      } else {
        await this.apps.patchNamespacedDaemonSet({ name, namespace, body }, strategic);
      }
    } catch (e: unknown) {
      if (e instanceof KubernetesError) throw e;
      throw new KubernetesError(toKubeFailure(e, 'patch', this.endpoint, resource), { cause: e });
    }
  }

  async deletePod(namespace: string, name: string): Promise<void> {
    try {
      await this.core.deleteNamespacedPod({ name, namespace });
    } catch (e: unknown) {
      const failure = toKubeFailure(e, 'delete', this.endpoint, `pods ${namespace}/${name}`);
      if (failure.code !== 'not_found') throw new KubernetesError(failure);
    }
  }

  trustBundleRef(): KubeConfigMapKeyRef {
    return { namespace: this.rules.bundleNamespace, name: this.rules.bundleConfigMap, key: this.rules.bundleKey };
  }

  getPod(namespace: string, name: string): Promise<KubePod | null> {
    return live.getPod(this.live, namespace, name);
  }

  getAgentPod(node: string): Promise<KubePod | null> {
    return live.getAgentPod(this.live, node);
  }

  getController(kind: KubeRolloutKind, namespace: string, name: string): Promise<KubeController | null> {
    return live.getController(this.live, kind, namespace, name);
  }

  readTrustBundle(ref: KubeConfigMapKeyRef): Promise<KubeTrustBundleRead | null> {
    return live.readTrustBundle(this.live, ref);
  }

  writeTrustBundle(ref: KubeConfigMapKeyRef, pem: string, resourceVersion: string): Promise<string> {
    return live.writeTrustBundle(this.live, ref, pem, resourceVersion);
  }

  readPodLog(namespace: string, name: string, options?: KubePodLogOptions): Promise<string> {
    return live.readPodLog(this.live, namespace, name, options);
  }

  recordEvent(event: KubeEventInput): Promise<void> {
    return live.recordEvent(this.live, event);
  }
}
