import type { Workload } from '../knowledge/model/workload.js';
import type { Scenario } from './scenario.js';
import { SimEnvoyAdminServer } from './envoy-admin-server.js';
import { SimWorld } from './world.js';

/** How often simulated time advances (agent rotations, SDS pushes, Envoy comebacks). */
export const SIM_TICK_MS = 100;

/**
 * Where the fleet's protocol fakes listen, in the shape of the daemon's `sources` config (the sim
 * may not import the runtime, so the shape is restated; main.ts checks they match).
 */
export interface SimFleetSources {
  readonly spire?: {
    readonly trustDomain: string; readonly server?: string; readonly agents: readonly { readonly node: string; readonly adminEndpoint: string }[];
    readonly delegatedIdentity: boolean; readonly pollIntervalMs: number;
  };
  readonly kubernetes?: { readonly server?: string; readonly bundleConfigMap: string; readonly spireNamespace: string };
  readonly cloudRun?: {
    readonly endpoint?: string; readonly insecure: boolean;
    readonly locations: readonly { readonly project: string; readonly location: string }[]; readonly pollIntervalMs: number;
  };
}

/** A running simulated fleet: the world, its protocol servers, and the ticker. */
export interface RunningSimFleet {
  readonly world: SimWorld;
  adminUrl(workloadId: string): string;
  targets(): Workload[];
  sources(): SimFleetSources;
  injectFault(fault: Scenario['faults'][number]): void;
  faults(): { kind: string; target: string; injectedAt: number | null; healedAt: number | null }[];
  actionsOnHealthyTargets(): number;
  stop(): Promise<void>;
}

/**
 * Builds the world of a scenario (real X.509 SVIDs for every workload), serves every Envoy's
 * admin API on one loopback HTTP server, and ticks the world in real time until stopped.
 * A tick that throws is reported on stderr and the next tick runs anyway: the simulator must
 * not die quietly in the middle of a scenario.
 */
export async function startSimulatedFleet(scenario: Scenario, now: () => number = Date.now): Promise<RunningSimFleet> {
  const world = await SimWorld.create({ trustDomain: scenario.trustDomain, svidTtlMs: scenario.svidTtlMs, envoyRestartMs: scenario.envoyRestartMs, now });
  for (const w of scenario.workloads) {
    await world.addWorkload({ id: w.id, spiffeId: w.spiffeId, platform: w.platform, location: w.location, node: w.node });
  }
  const server = new SimEnvoyAdminServer(world);
  await server.start(0);
  let ticking = true;
  let pending: Promise<unknown> = Promise.resolve();
  const timer = setInterval(() => {
    if (!ticking) return;
    pending = world.tick().catch((e: unknown) => { process.stderr.write(`sim: tick failed: ${String(e)}\n`); });
  }, SIM_TICK_MS);
  return {
    world,
    adminUrl: (id) => server.adminUrl(id),
    targets: () => world.workloads().map((w) => ({ ...w, envoyAdminUrl: server.adminUrl(w.id) })),
    sources: () => ({}),
    injectFault: (f) => { world.injectFault({ kind: f.kind, target: f.target }); },
    faults: () => world.faults().map((f) => ({ kind: f.kind, target: f.target, injectedAt: f.injectedAt, healedAt: f.healedAt })),
    actionsOnHealthyTargets: () => world.actionsOnHealthyTargets,
    stop: async () => {
      ticking = false;
      clearInterval(timer);
      await pending;
      await server.close();
    },
  };
}
