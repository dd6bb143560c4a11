import type { Scenario } from '../sim/scenario.js';

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
  injectFault(fault: Scenario['faults'][number]): void;
  faults(): FaultRecord[];
  actionsOnHealthyTargets(): number;
  stop(): Promise<void>;
}

/** Starts the simulated fleet of a scenario (servers listening, world ticking). */
export type StartFleet = (scenario: Scenario) => Promise<SimulatedFleet>;
