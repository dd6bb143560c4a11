import type { Workload } from '../knowledge/model/workload.js';
import type { Scenario } from '../sim/scenario.js';
import type { SourcesConfig } from './config.js';

/** An injected fault and whether the world considers it healed. */
export interface FaultRecord {
  readonly kind: string;
  readonly target: string;
  readonly injectedAt: number | null;
  readonly healedAt: number | null;
}

/**
 * What the simulation runner needs from a running simulated fleet. The composition root builds
 * it from src/sim (world + protocol servers); the runner never touches the world directly.
 */
export interface SimulatedFleet {
  /** Envoy admin base URL of a workload. */
  adminUrl(workloadId: string): string;
  /** Every workload as the daemon may be told about it up front (the inventories also report them). */
  targets(): Workload[];
  /** Where the fleet's fake SPIRE server and agents, Kubernetes API and Cloud Run API listen. */
  sources(): SourcesConfig;
  injectFault(fault: Scenario['faults'][number]): void;
  faults(): FaultRecord[];
  actionsOnHealthyTargets(): number;
  stop(): Promise<void>;
}

/** Starts the simulated fleet of a scenario (servers listening, world ticking). */
export type StartFleet = (scenario: Scenario) => Promise<SimulatedFleet>;
