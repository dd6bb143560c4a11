/** Every remediation action execute knows (issue 6 adds their implementations one by one). */
export const ACTION_NAMES = [
  'force_rotation',
  'restart_envoy',
  'restart_agent',
  'redeploy',
  'sync_bundle',
  'collect_evidence',
  'notify',
] as const;

export type ActionName = (typeof ACTION_NAMES)[number];

/** Step parameters from the playbook, passed to the action verbatim (each action validates its own). */
export type ActionParams = Readonly<Record<string, string | number | boolean | readonly string[]>>;

export type ActionRunState = 'queued' | 'running' | 'succeeded' | 'failed' | 'skipped';

/** Identifies one attempt of one step of one incident's plan, and what it does to which target. */
export interface RemediationStep {
  /** Deterministic id (makeActionRunId), also the BullMQ job id: the same step is never queued twice. */
  readonly id: string;
  readonly incidentId: string;
  readonly step: number;
  readonly attempt: number;
  readonly action: ActionName;
  /**
   * What the action targets: a workload id ("<ns>/<pod>", "<project>/<region>/<service>"), an agent
   * ("agent:<node>"), a trust domain ("trust-domain:<td>") or a ConfigMap ("configmap:<ns>/<name>").
   */
  readonly target: string;
  /** The step's parameters from the playbook ({} when none). */
  readonly params?: ActionParams;
}

/** What plan asks execute to do (the BullMQ job payload). */
export interface RemediationRequest extends RemediationStep {
  /** When the plan decided it (ms). */
  readonly decidedAt: number;
  /** Shadow mode: record the decision and everything around it, but do not perform the effect. */
  readonly shadow: boolean;
  /** Per-delivery timeout of the action (aborts it); absent: no timeout beyond the queue's lock. */
  readonly timeoutMs?: number;
  /**
   * The plan's deadline for this step (ms). Past it the plan has moved on (next attempt, next
   * step or escalation), so a delivery that starts later (a retry, a recovered stalled job) is
   * skipped, and a delivery never runs beyond it.
   */
  readonly deadlineAt?: number;
  /**
   * The playbook's action budgets this job counts against (its own ledger entry was recorded when
   * plan decided it). Re-checked when the job starts: another replica deciding at the same moment
   * can have used the budget up, and then this job is held back.
   */
  readonly budget?: JobBudget;
}

/** A budget: at most `count` actions per `windowMs`. */
export interface BudgetLimit {
  readonly count: number;
  readonly windowMs: number;
}

/** The ledger scopes and limits a job counts against. */
export interface JobBudget {
  readonly playbook: string;
  readonly subject: string;
  readonly perPlaybook: BudgetLimit | null;
  readonly perSubject: BudgetLimit | null;
}

/** One execution of one remediation step, as recorded in knowledge. */
export interface ActionRun extends RemediationStep {
  readonly state: ActionRunState;
  readonly enqueuedAt: number;
  readonly startedAt: number | null;
  readonly finishedAt: number | null;
  /** Why it was skipped or failed, or what the effect was. */
  readonly detail: string;
  /** False when the effect was not applied (skipped, failed before acting, or shadow mode). */
  readonly performed: boolean;
  /** Skipped by a gate (kill switch, storm) rather than because of the target: the plan runs the step again later. */
  readonly held?: boolean;
}

/** BullMQ job ids may not contain ':' and may not be integers; incident ids already satisfy that. */
export function makeActionRunId(incidentId: string, step: number, attempt: number): string {
  return `${incidentId}--s${step}--a${attempt}`;
}
