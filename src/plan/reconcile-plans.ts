import type { AuditLog } from '../knowledge/audit.js';
import type { KnowledgeStore } from '../knowledge/knowledge-store.js';
import type { RemediationRequest } from '../knowledge/model/action-run.js';
import type { RotationPolicy } from '../knowledge/svid-rotation.js';
import { applyDecision } from './apply-pass.js';
import { decidePass } from './decide-pass.js';
import { gatherPass } from './gather-pass.js';
import type { Playbook } from './playbooks/playbook.js';

/** Collaborators of the plan stage. `enqueue` is idempotent by request id. */
export interface PlanDeps {
  readonly store: KnowledgeStore;
  readonly audit: AuditLog;
  /** The current playbook set (hot reloaded: read on every pass). */
  readonly playbooks: () => readonly Playbook[];
  readonly enqueue: (req: RemediationRequest) => Promise<boolean>;
  /** For post-conditions that judge a served SVID (defaults: rotate at half-life, 1 s grace). */
  readonly rotation?: RotationPolicy;
}

/** What one reconcile pass saw. */
export interface PlanPassResult {
  readonly incidents: number;
  readonly enqueued: number;
  readonly paused: boolean;
  /** Live plans by machine state after the pass. */
  readonly phases: Readonly<Record<string, number>>;
  /** Held plans by the guardrail holding them. */
  readonly held: Readonly<Record<string, number>>;
}

/** Post-condition defaults when the daemon passes none. */
export const DEFAULT_ROTATION: RotationPolicy = { rotateAtFraction: 0.5, graceMs: 1_000 };

/**
 * One plan pass, level-based like a controller reconcile, in three phases:
 *
 *   gather (gather-pass.ts: every read) → decide (decide-pass.ts: pure fold) → apply (apply-pass.ts: every write)
 *
 * `focus`: reconcile only these incidents (e.g. the ones analysis just opened), counting every
 * other in-flight plan from the in-flight index, so a new incident is acted on without a pass
 * over every open one. Without it, every live plan is visited (deadlines, verification).
 */
export async function reconcilePlans(
  deps: PlanDeps,
  now: number,
  focus?: ReadonlySet<string> | readonly string[],
): Promise<PlanPassResult> {
  const playbooks = deps.playbooks();
  const facts = await gatherPass(deps.store, playbooks, now, focus === undefined ? undefined : [...focus]);
  const decisions = decidePass(facts, { playbooks, rotation: deps.rotation ?? DEFAULT_ROTATION });
  let enqueued = 0;
  const phases: Record<string, number> = {};
  const held: Record<string, number> = {};
  for (const d of decisions) {
    enqueued += await applyDecision(deps, d, now);
    const after = d.after;
    if (after === null || d.done) continue;
    phases[after.value] = (phases[after.value] ?? 0) + 1;
    if (after.value === 'held') held[after.context.heldBy ?? 'unknown'] = (held[after.context.heldBy ?? 'unknown'] ?? 0) + 1;
  }
  return { incidents: decisions.length, enqueued, paused: facts.control.paused, phases, held };
}
