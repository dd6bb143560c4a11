import type { SimFault, SimFaultKind } from './world-faults.js';

/**
 * The world's fault record: every injected fault with when it was healed, and the count of
 * remediation actions that hit a target with no active fault (the simulator's measure of harm).
 */
export class FaultLog {
  private readonly entries: SimFault[] = [];
  private healthyTargetActions = 0;

  /** Records a fault; a kind already active on the target returns that record instead (`added` false). */
  inject(kind: SimFaultKind, target: string, at: number): { readonly fault: SimFault; readonly added: boolean } {
    const existing = this.active().find((f) => f.kind === kind && f.target === target);
    if (existing !== undefined) return { fault: existing, added: false };
    const fault: SimFault = { id: `${kind}--${target}--${this.entries.length + 1}`, kind, target, injectedAt: at, healedAt: null };
    this.entries.push(fault);
    return { fault, added: true };
  }

  /** Faults not healed yet, oldest first. */
  active(): SimFault[] {
    return this.entries.filter((f) => f.healedAt === null);
  }

  /** Whether a fault of `kind` is active on `target`, not counting those in `except` (e.g. healed by a pending comeback). */
  isActive(kind: SimFaultKind, target: string, except: ReadonlySet<string> = new Set()): boolean {
    return this.entries.some((f) => f.healedAt === null && f.kind === kind && f.target === target && !except.has(f.id));
  }

  /** Active faults on a node or on one of its workloads. */
  activeOnNode(node: string, workloadIds: readonly string[]): SimFault[] {
    return this.active().filter((f) => f.target === node || workloadIds.includes(f.target));
  }

  /** Marks the active faults among `faults` (or ids) healed at `at`. */
  heal(faults: Iterable<string | SimFault>, at: number): void {
    const ids = new Set([...faults].map((f) => (typeof f === 'string' ? f : f.id)));
    this.entries.forEach((f, i) => {
      if (ids.has(f.id) && f.healedAt === null) this.entries[i] = { ...f, healedAt: at };
    });
  }

  /** Every fault (copies), oldest first. */
  all(): SimFault[] {
    return this.entries.map((f) => ({ ...f }));
  }

  /** Counts a remediation action performed on a target that had no active fault. */
  countActionOnHealthyTarget(): void {
    this.healthyTargetActions += 1;
  }

  get actionsOnHealthyTargets(): number {
    return this.healthyTargetActions;
  }
}
