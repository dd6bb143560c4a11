import { fromCallback, fromPromise, type AnyActorRef, type AnyStateMachine } from 'xstate';
import { KubernetesInventorySync } from '../monitor/apply-kubernetes-inventory.js';
import { streamSourceMachine, type StreamSourceEvent } from '../monitor/stream-source.machine.js';
import type { KubernetesInventoryPort } from '../ports/kubernetes.port.js';
import type { AuditLog } from '../knowledge/audit.js';
import type { Clock } from '../knowledge/clock.js';
import type { KnowledgeStore } from '../knowledge/knowledge-store.js';
import type { Observation } from '../knowledge/model/observation.js';
import type { Workload } from '../knowledge/model/workload.js';
import { DelegatedSvidStreams, type DelegatedSvidTarget } from '../monitor/delegated-svid-streams.js';
import { monitorMachine } from '../monitor/monitor.machine.js';
import { pollCloudRun } from '../monitor/poll-cloudrun.js';
import { pollSpire, type SpireAgentTarget } from '../monitor/poll-spire.js';
import type { SweepResult } from '../monitor/sweep-envoys.js';
import type { CloudRunPort } from '../ports/cloudrun.port.js';
import type { SecretStorePort } from '../ports/secret-store.port.js';
import type { DaemonMetrics } from '../ports/metrics.port.js';
import type { AgentDebugPort, DelegatedIdentityPort, SpireHealthPort, SpireServerPort } from '../ports/spire.port.js';
import type { SourcesConfig } from './config.js';
import type { RotationPolicy } from '../knowledge/svid-rotation.js';
import type { Logger } from './logger.js';

/** Ports to the monitored systems beyond Envoy; each is needed only when its source is configured. */
export interface MonitorSourcePorts {
  /** Builds a Server API client for an endpoint (unix:///… or tcp://…). */
  readonly spireServer?: (endpoint: string) => SpireServerPort;
  readonly agentDebug?: AgentDebugPort;
  readonly spireHealth?: SpireHealthPort;
  readonly delegatedIdentity?: DelegatedIdentityPort;
  readonly cloudRun?: CloudRunPort;
  readonly kubernetes?: KubernetesInventoryPort;
  /** Secret Manager: not a monitor source, but built with the Cloud Run ports (sync_bundle writes the Cloud Run CA-bundle secret). */
  readonly secretStore?: SecretStorePort;
}

/** What the sources need from the daemon. */
export interface MonitorSourcesDeps {
  readonly sources: SourcesConfig;
  readonly ports: MonitorSourcePorts;
  readonly store: KnowledgeStore;
  readonly audit: AuditLog;
  readonly clock: Clock;
  readonly metrics: DaemonMetrics;
  readonly log: Logger;
  readonly concurrency: number;
  readonly maxBackoffMs: number;
  /** How old an observation may be before analysis ignores it; watch-based state is re-stamped well within it. */
  readonly freshnessMs: number;
  /** Spawns a named stage actor owned by the daemon (health, metrics, stop). */
  readonly spawn: (name: string, machine: AnyStateMachine, input: unknown) => AnyActorRef;
  /** Registers work a shutdown must wait for. */
  readonly track: <T>(p: Promise<T>) => Promise<T>;
  /** Nudges analysis after a change. */
  readonly onChanged: () => void;
  /** When a served SVID should have rotated: a rotation inside its window is state, not news, and is not audited. */
  readonly rotation?: RotationPolicy;
}

/**
 * Starts the configured monitor sources next to the Envoy sweep: a SPIRE poll (server bundle and
 * authorities, every agent's Debug info) that also keeps Delegated Identity streams open for the
 * workloads whose node has a known agent (one per agent, namespace and service account where the
 * registrations allow it, else one per workload), and a Cloud Run poll that enrols annotated services as
 * workloads. Returns a handle to extend the agent list (Kubernetes discovery) and to stop streams.
 */
export function startMonitorSources(deps: MonitorSourcesDeps): MonitorSources {
  return new MonitorSources(deps);
}

/** The running sources. */
export class MonitorSources {
  private readonly discoveredAgents = new Map<string, SpireAgentTarget>();
  private readonly streams: DelegatedSvidStreams | null;

  constructor(private readonly deps: MonitorSourcesDeps) {
    const { sources, ports } = deps;
    const sink = {
      store: deps.store,
      audit: deps.audit,
      ...(deps.rotation === undefined ? {} : { rotation: deps.rotation }),
      onObservation: (o: Observation, changed: boolean) => {
        deps.metrics.observation(o.source, o.data.kind === 'probe.error' ? 'error' : 'ok', changed);
      },
    };
    const delegated = ports.delegatedIdentity;
    this.streams =
      sources.spire?.delegatedIdentity === true && delegated !== undefined
        ? new DelegatedSvidStreams({
            ...sink,
            port: delegated,
            clock: deps.clock,
            retryMs: 500,
            maxBackoffMs: deps.maxBackoffMs,
            onChanged: deps.onChanged,
            track: deps.track,
            onRecordError: (err, t) => {
              deps.log.warn({ err, workload: t.workloadId }, 'could not record a Delegated Identity observation');
            },
          })
        : null;
    const spire = sources.spire;
    const debug = ports.agentDebug;
    if (spire !== undefined && debug !== undefined) {
      const server =
        spire.server !== undefined && ports.spireServer !== undefined
          ? { port: ports.spireServer(spire.server), endpoint: spire.server }
          : null;
      this.loop('monitor.spire', spire.pollIntervalMs, async () => {
        const res = await pollSpire(
          {
            ...sink,
            server,
            debug,
            ...(delegated === undefined ? {} : { bundles: delegated }),
            ...(ports.spireHealth === undefined ? {} : { health: ports.spireHealth }),
            clock: deps.clock,
            trustDomain: spire.trustDomain,
            concurrency: deps.concurrency,
            spreadOverMs: spire.pollIntervalMs / 2,
          },
          this.agents(),
        );
        await this.syncStreams();
        // Re-subscribes streams silent past their SVIDs' rotation point; it records nothing itself.
        await this.streams?.refresh();
        return res;
      });
    }
    const kube = sources.kubernetes;
    if (kube !== undefined && ports.kubernetes !== undefined)
      this.watchKubernetes(
        ports.kubernetes,
        new KubernetesInventorySync({ ...sink, clock: deps.clock, bundleConfigMap: kube.bundleConfigMap }),
      );
    const run = sources.cloudRun;
    const cloudRun = ports.cloudRun;
    if (run !== undefined && cloudRun !== undefined) {
      this.loop('monitor.cloudrun', run.pollIntervalMs, async () => {
        const bundleSecret =
          run.bundleSecret !== undefined && ports.secretStore !== undefined
            ? {
                bundleSecret: {
                  secret: run.bundleSecret,
                  store: ports.secretStore,
                  endpoint: run.secretManagerEndpoint ?? 'secretmanager.googleapis.com:443',
                },
              }
            : {};
        const res = await pollCloudRun(
          {
            ...sink,
            cloudRun,
            endpoint: run.endpoint ?? 'run.googleapis.com:443',
            clock: deps.clock,
            trustDomain: spire?.trustDomain ?? '',
            ...bundleSecret,
          },
          run.locations,
        );
        for (const w of res.workloads) await deps.store.putWorkload(w);
        return res;
      });
    }
  }

  /** Agents discovered elsewhere (Kubernetes agent pods): node → admin endpoint. Replaces the previous set. */
  setDiscoveredAgents(agents: readonly SpireAgentTarget[]): void {
    this.discoveredAgents.clear();
    for (const a of agents) this.discoveredAgents.set(a.node, a);
  }

  /** Configured agents, then discovered ones on other nodes. */
  agents(): SpireAgentTarget[] {
    const configured = this.deps.sources.spire?.agents ?? [];
    const nodes = new Set(configured.map((a) => a.node));
    return [...configured, ...[...this.discoveredAgents.values()].filter((a) => !nodes.has(a.node))];
  }

  /** Opens or closes Delegated Identity streams to match the workloads in knowledge. */
  async syncStreams(): Promise<void> {
    if (this.streams === null) return;
    this.streams.sync(delegatedTargets(await this.deps.store.listWorkloads(), this.agents()));
  }

  /** Stream states for /healthz. */
  streamStates(): Record<string, string> {
    return this.streams?.states() ?? {};
  }

  /** Closes every stream (the polling actors are stopped by the daemon). */
  stop(): void {
    this.streams?.stop();
  }

  /**
   * The Kubernetes inventory as a stream source: `live.connecting` until the first full snapshot,
   * then `live.streaming`. The adapter re-lists and re-watches by itself; each failure it reports
   * is an observation, and only a watch it gave up on (no retry) moves the machine to backoff.
   * Snapshots are applied one at a time, in order.
   */
  private watchKubernetes(port: KubernetesInventoryPort, sync: KubernetesInventorySync): void {
    const { log, onChanged } = this.deps;
    const stream = fromCallback<StreamSourceEvent, { source: string }>(({ sendBack }) => {
      let chain: Promise<unknown> = Promise.resolve();
      const serially = (what: string, f: () => Promise<void>): void => {
        chain = this.deps.track(
          chain.then(f).catch((err: unknown) => {
            log.warn({ err }, `kubernetes inventory: could not apply ${what}`);
          }),
        );
      };
      const refresher = setInterval(
        () => {
          serially('a refresh', async () => {
            await sync.refresh();
          });
        },
        Math.max(250, Math.floor(this.deps.freshnessMs / 3)),
      );
      const watch = port.watchInventory({
        onSnapshot: (inv) => {
          serially('a snapshot', async () => {
            const res = await sync.apply(inv);
            this.setDiscoveredAgents(res.agents);
            if (res.changed > 0) onChanged();
            await this.syncStreams();
          });
          sendBack({ type: 'stream.message' });
        },
        onError: (f, willRetryInMs) => {
          serially('a failure', () => sync.failure(f));
          // A watch the adapter closed is reopened with backoff: a monitor never parks on a failure's retry class.
          if (willRetryInMs === null) sendBack({ type: 'stream.failed', error: f.message, retryable: true });
        },
      });
      return () => {
        clearInterval(refresher);
        void watch.close();
      };
    });
    this.deps.spawn('monitor.kubernetes', streamSourceMachine.provide({ actors: { stream } }), {
      source: 'kubernetes',
      intervalMs: 1_000,
      maxBackoffMs: this.deps.maxBackoffMs,
    });
  }

  private loop(name: string, intervalMs: number, pass: () => Promise<SweepResult>): void {
    const { metrics, onChanged } = this.deps;
    this.deps.spawn(
      name,
      monitorMachine.provide({
        actors: {
          sweep: fromPromise(async () => {
            const t0 = performance.now();
            const res = await this.deps.track(pass());
            metrics.sweepDuration(name, (performance.now() - t0) / 1000);
            if (res.changed > 0) onChanged();
            return res;
          }),
        },
      }),
      { intervalMs, maxBackoffMs: this.deps.maxBackoffMs },
    );
  }
}

/** Workloads whose node has a known agent and whose selectors are known. */
export function delegatedTargets(workloads: readonly Workload[], agents: readonly SpireAgentTarget[]): DelegatedSvidTarget[] {
  const byNode = new Map(agents.map((a) => [a.node, a.adminEndpoint]));
  const out: DelegatedSvidTarget[] = [];
  for (const w of workloads) {
    const endpoint = w.node === undefined ? undefined : byNode.get(w.node);
    if (endpoint === undefined || w.node === undefined || w.selectors === undefined || w.selectors.length === 0) continue;
    out.push({ workloadId: w.id, spiffeId: w.spiffeId, node: w.node, adminEndpoint: endpoint, selectors: w.selectors });
  }
  return out;
}
