import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { DaemonMetrics } from '../../ports/metrics.port.js';
import type { ObservationSource } from '../../knowledge/model/observation.js';

const STAGES = ['monitor', 'analyze', 'plan', 'execute'] as const;

/**
 * DaemonMetrics on prom-client with a dedicated registry (never the global one, so several
 * daemons in one process, as in tests, do not collide). Names follow selfheal_<stage>_<noun>_<unit>.
 */
export class PromMetrics implements DaemonMetrics {
  readonly registry = new Registry();
  private readonly observations = new Counter({
    name: 'selfheal_monitor_observations_total',
    help: 'Observations recorded, by source and outcome; changed=true when the observed state changed.',
    labelNames: ['source', 'outcome', 'changed'] as const,
    registers: [this.registry],
  });
  private readonly sweeps = new Histogram({
    name: 'selfheal_stage_pass_duration_seconds',
    help: 'Duration of one pass of a stage loop.',
    labelNames: ['stage'] as const,
    buckets: [0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 15],
    registers: [this.registry],
  });
  private readonly opened = new Counter({
    name: 'selfheal_analyze_incidents_opened_total',
    help: 'Incidents opened, by type.',
    labelNames: ['type'] as const,
    registers: [this.registry],
  });
  private readonly resolved = new Counter({
    name: 'selfheal_analyze_incidents_resolved_total',
    help: 'Incidents resolved, by type.',
    labelNames: ['type'] as const,
    registers: [this.registry],
  });
  private readonly open = new Gauge({
    name: 'selfheal_analyze_incidents_open',
    help: 'Incidents currently open.',
    registers: [this.registry],
  });
  private readonly actions = new Counter({
    name: 'selfheal_execute_actions_total',
    help: 'Remediation jobs finished, by action and outcome; performed=false for skipped or shadow jobs.',
    labelNames: ['action', 'outcome', 'performed'] as const,
    registers: [this.registry],
  });
  private readonly state = new Gauge({
    name: 'selfheal_stage_state',
    help: 'Current state of each stage machine (1 for the active state).',
    labelNames: ['stage', 'state'] as const,
    registers: [this.registry],
  });
  private readonly paused = new Gauge({ name: 'selfheal_plan_paused', help: '1 while the kill switch is on.', registers: [this.registry] });
  private readonly phases = new Gauge({
    name: 'selfheal_plan_plans',
    help: 'Remediation plans of open incidents, by plan machine state (ready, held, awaitingApproval, executing, verifying, verified, escalated).',
    labelNames: ['state'] as const,
    registers: [this.registry],
  });
  private readonly held = new Gauge({
    name: 'selfheal_plan_held',
    help: 'Remediation plans held back, by the guardrail holding them.',
    labelNames: ['guardrail'] as const,
    registers: [this.registry],
  });
  private readonly lastState = new Map<string, string>();

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'selfheal_process_' });
    for (const s of STAGES) this.state.set({ stage: s, state: 'starting' }, 0);
  }

  observation(source: ObservationSource, outcome: 'ok' | 'error', changed: boolean): void {
    this.observations.inc({ source, outcome, changed: String(changed) });
  }
  sweepDuration(stage: string, seconds: number): void {
    this.sweeps.observe({ stage }, seconds);
  }
  incidentsOpened(type: string, n: number): void {
    if (n > 0) this.opened.inc({ type }, n);
  }
  incidentsResolved(type: string, n: number): void {
    if (n > 0) this.resolved.inc({ type }, n);
  }
  setOpenIncidents(n: number): void {
    this.open.set(n);
  }
  actionFinished(action: string, outcome: 'succeeded' | 'failed' | 'skipped', performed: boolean): void {
    this.actions.inc({ action, outcome, performed: String(performed) });
  }
  stageState(stage: string, state: string): void {
    const prev = this.lastState.get(stage);
    if (prev !== undefined) this.state.set({ stage, state: prev }, 0);
    this.state.set({ stage, state }, 1);
    this.lastState.set(stage, state);
  }
  setPaused(paused: boolean): void {
    this.paused.set(paused ? 1 : 0);
  }

  setPlanPhases(counts: Readonly<Record<string, number>>): void {
    this.phases.reset();
    for (const [phase, n] of Object.entries(counts)) this.phases.set({ state: phase }, n);
  }

  setPlansHeld(counts: Readonly<Record<string, number>>): void {
    this.held.reset();
    for (const [guardrail, n] of Object.entries(counts)) this.held.set({ guardrail }, n);
  }
  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
