import type { Workload } from '../knowledge/model/workload.js';
import type { SourceEndpoints } from '../ports/source-endpoints.js';
import { startSimCloudRun, type SimCloudRunFleet } from './fleet-cloudrun.js';
import { SPIRE_NAMESPACE, startSimKubernetes, type SimKubernetes } from './fleet-kubernetes.js';
import type { Scenario } from './scenario.js';
import { SimEnvoyAdminServer } from './envoy-admin-server.js';
import { FakeSpireAgent } from './spire/fake-spire-agent.js';
import { FakeSpireServer } from './spire/fake-spire-server.js';
import { workloadSelectors } from './spire/selectors.js';
import { SECRET_TARGET, SimWorld } from './world.js';
import { SIMULATED_LABELS } from './world-model.js';

/** How often simulated time advances (agent rotations, SDS pushes, Envoy comebacks). */
export const SIM_TICK_MS = 100;

/** A running simulated fleet: the world, its protocol servers, and the ticker. */
export interface RunningSimFleet {
  readonly world: SimWorld;
  adminUrl(workloadId: string): string;
  /** Every workload as the daemon may be told about it up front (the inventories report them too), labelled spire-healer.io/simulated. */
  targets(): Workload[];
  sources(): SourceEndpoints;
  injectFault(fault: Scenario['faults'][number]): void;
  faults(): { kind: string; target: string; injectedAt: number | null; healedAt: number | null }[];
  actionsOnHealthyTargets(): number;
  /** The fake Kubernetes API (its store is the cluster's state). */
  readonly kube: SimKubernetes;
  /** The fake Cloud Run Admin API; null when the scenario has no Cloud Run workloads. */
  readonly cloudRun: SimCloudRunFleet | null;
  /** The fake agent of a node (tests and remediation effects). */
  agent(node: string): FakeSpireAgent;
  /** Restarts a node's SPIRE agent: the world heals what a restart heals and the fake binds its sockets again. */
  restartAgent(node: string): Promise<void>;
  stop(): Promise<void>;
}

/** How the fleet is served. */
export interface SimFleetOptions {
  readonly now?: () => number;
  /** How often the daemon should poll SPIRE and Cloud Run (sources()). */
  readonly pollIntervalMs?: number;
}

/**
 * Builds the world of a scenario (real X.509 SVIDs for every workload) and serves it over every
 * real protocol on loopback: one HTTP server for all Envoy admin APIs, a fake SPIRE agent per node
 * (Workload API, Delegated Identity, Debug on unix sockets), a fake SPIRE server (tcp://), a fake
 * Kubernetes API and, when the scenario has Cloud Run workloads, a fake Cloud Run Admin API. The
 * world ticks in real time until stopped; each tick also carries world changes to the fakes that
 * keep their own state (the ConfigMap, Cloud Run revisions). A tick that throws is reported on
 * stderr and the next tick runs anyway: the simulator must not die quietly mid-scenario. Everything
 * it serves carries the simulated fleet's marker (SIMULATED_MARKER in world-model.ts).
 */
export async function startSimulatedFleet(scenario: Scenario, opts: SimFleetOptions = {}): Promise<RunningSimFleet> {
  const now = opts.now ?? Date.now;
  const pollMs = opts.pollIntervalMs ?? 500;
  const world = await SimWorld.create({
    trustDomain: scenario.trustDomain,
    svidTtlMs: scenario.svidTtlMs,
    envoyRestartMs: scenario.envoyRestartMs,
    now,
    registrations: scenario.registrations,
  });
  for (const w of scenario.workloads) {
    await world.addWorkload({ id: w.id, spiffeId: w.spiffeId, platform: w.platform, location: w.location, node: w.node });
  }
  const envoys = new SimEnvoyAdminServer(world);
  await envoys.start(0);
  const adminUrl = (id: string): string => envoys.adminUrl(id);
  const agents = new Map(world.nodes().map((node) => [node, new FakeSpireAgent({ world, node, pollMs: SIM_TICK_MS })]));
  for (const a of agents.values()) await a.start();
  const agentOf = (node: string): FakeSpireAgent => {
    const a = agents.get(node);
    if (a === undefined) throw new Error(`no simulated node "${node}"`);
    return a;
  };
  const spireServer = new FakeSpireServer({ world, agents: () => [...agents.values()].map((a) => a.agentRecord()), tcp: true });
  await spireServer.start();
  const restartAgentProcess = async (node: string): Promise<void> => {
    const a = agentOf(node);
    world.restartAgent(node);
    await a.stop();
    await a.start();
  };
  const kube = await startSimKubernetes(
    world,
    adminUrl,
    (node) => agentOf(node),
    {
      restartAgent: restartAgentProcess,
      restartWorkload: (id) => {
        world.quitEnvoy(id, { podReplaced: true });
      },
    },
    scenario.agentAdminSocket,
  );
  const cloudRun = await startSimCloudRun(
    world.workloads(),
    adminUrl,
    now,
    world
      .trustBundle()
      .certs.map((c) => c.pem)
      .join('\n'),
  );

  /**
   * A secret ca_rotation_not_propagated heals once the secret's latest version holds exactly the
   * server's bundle and every Cloud Run service has since rolled a new ready revision (how its
   * instances read the new version): the services still to roll, per fault, from the sync on.
   */
  const secretRolls = new Map<string, Set<string>>();
  const carryOver = (): void => {
    kube.syncBundle();
    if (cloudRun === null) return;
    for (const f of world.faults()) {
      if (f.kind !== 'ca_rotation_not_propagated' || f.target !== SECRET_TARGET || f.healedAt !== null || secretRolls.has(f.id)) continue;
      if (
        sameCerts(
          cloudRun.secrets.read(cloudRun.bundleSecret, 'latest'),
          world
            .trustBundle()
            .certs.map((c) => c.pem)
            .join('\n'),
        )
      ) {
        secretRolls.set(
          f.id,
          new Set(
            world
              .workloads()
              .filter((w) => w.platform === 'cloudrun')
              .map((w) => w.id),
          ),
        );
      }
    }
    // A new serving revision replaced the service's instances: their Envoys start anew.
    for (const id of cloudRun.newReadyRevisions()) {
      world.quitEnvoy(id, { podReplaced: true });
      for (const pending of secretRolls.values()) pending.delete(id);
    }
    for (const [id, pending] of secretRolls) {
      if (pending.size > 0) continue;
      world.clearFault(id);
      secretRolls.delete(id);
    }
    for (const f of world.faults()) {
      if (f.kind === 'cloudrun_revision_not_ready' && f.healedAt === null && cloudRun.latestRevisionReady(f.target)) world.clearFault(f.id);
    }
  };
  let ticking = true;
  let pending: Promise<unknown> = Promise.resolve();
  const timer = setInterval(() => {
    if (!ticking) return;
    pending = world
      .tick()
      .then(carryOver)
      .catch((e: unknown) => {
        process.stderr.write(`sim: tick failed: ${String(e)}\n`);
      });
  }, SIM_TICK_MS);

  return {
    world,
    kube,
    cloudRun,
    adminUrl,
    targets: () =>
      world.workloads().map((w) => ({
        ...w,
        labels: { ...w.labels, ...SIMULATED_LABELS },
        selectors: workloadSelectors(w),
        envoyAdminUrl: adminUrl(w.id),
      })),
    sources: () => ({
      spire: { trustDomain: world.trustDomain, server: spireServer.endpoint, agents: [], delegatedIdentity: true, pollIntervalMs: pollMs },
      kubernetes: { server: kube.url, bundleConfigMap: `${SPIRE_NAMESPACE}/spire-bundle`, spireNamespace: SPIRE_NAMESPACE },
      ...(cloudRun === null
        ? {}
        : {
            cloudRun: {
              endpoint: cloudRun.endpoint,
              insecure: true,
              locations: cloudRun.locations,
              pollIntervalMs: pollMs,
              bundleSecret: cloudRun.bundleSecret,
              secretManagerEndpoint: cloudRun.secretManagerEndpoint,
            },
          }),
    }),
    injectFault: (f) => {
      world.injectFault({ kind: f.kind, target: f.target });
      if (f.kind === 'agent_down') void agentOf(f.target).stop();
      if (f.kind === 'cloudrun_revision_not_ready' && cloudRun !== null) {
        cloudRun.state.setServiceNotReady(
          cloudRun.serviceName(f.target),
          'The user-provided container failed the configured startup probe checks.',
        );
      }
      carryOver();
    },
    faults: () => world.faults().map((f) => ({ kind: f.kind, target: f.target, injectedAt: f.injectedAt, healedAt: f.healedAt })),
    actionsOnHealthyTargets: () => world.actionsOnHealthyTargets,
    agent: agentOf,
    restartAgent: async (node) => {
      await restartAgentProcess(node);
      kube.refreshAgentAnnotations(node);
    },
    stop: async () => {
      ticking = false;
      clearInterval(timer);
      await pending;
      await envoys.close();
      for (const a of agents.values()) await a.dispose();
      await spireServer.dispose();
      await kube.close();
      await cloudRun?.close();
    },
  };
}

/** Whether two PEM texts hold the same set of certificates (base64 bodies compared). */
function sameCerts(a: string | null, b: string): boolean {
  const bodies = (t: string): string[] =>
    [...t.matchAll(/-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/g)].map((m) => (m[1] ?? '').replace(/\s+/g, '')).sort();
  if (a === null) return false;
  const [x, y] = [bodies(a), bodies(b)];
  return x.length === y.length && x.every((v, i) => v === y[i]);
}
