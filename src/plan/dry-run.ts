import type { KnowledgeStore } from '../knowledge/knowledge-store.js';
import type { IncidentPlanContext } from './incident-plan.machine.js';
import { selectPlaybook } from './playbooks/match-playbook.js';
import type { Playbook } from './playbooks/playbook.js';
import { initialPlanState, loadLivePlans } from './reconcile-plans.js';
import { decideGate } from './step-gate.js';
import { gatherSubjectFacts } from './subject-facts.js';

/** What plan would do for one open incident right now, and what would hold it back. */
export interface DryRunDecision {
  readonly incident: string;
  readonly type: string;
  readonly subject: string;
  readonly cause: string | null;
  readonly playbook: string | null;
  /** 1-based step that would run next, with its action; null when nothing would run. */
  readonly step: number | null;
  readonly action: string | null;
  /** Steps the diagnosis skips on the way, with why. */
  readonly skipped: readonly string[];
  /** The guardrail that holds it back, when one does. */
  readonly guardrail: string | null;
  /** "would run", "would record (shadow)", "waits for approval: …", "in progress: …" or "held: <why>". */
  readonly verdict: string;
}

const WAITING = new Set(['ready', 'held', 'awaitingApproval']);

/**
 * For every open incident, the plan's next move given the playbooks and everything in Redis
 * (kill switch, storm, ledger, approvals, in-flight plans), computed by the same gate the
 * reconciler uses. Reads only: nothing is written, queued or audited.
 */
export async function planDryRun(store: KnowledgeStore, playbooks: readonly Playbook[], now: number): Promise<DryRunDecision[]> {
  const incidents = await store.listIncidents();
  const { pass, live } = await loadLivePlans({ store }, incidents, now);
  const open = incidents.filter((i) => i.status === 'open');
  const out: DryRunDecision[] = [];
  for (const incident of open) {
    const base = {
      incident: incident.id,
      type: incident.type,
      subject: incident.subject,
      cause: incident.cause ?? null,
      skipped: [] as string[],
      guardrail: null,
    };
    const facts = await gatherSubjectFacts(store, incident);
    const restored = live.find((l) => l.incident.id === incident.id)?.state ?? null;
    const playbook =
      restored === null ? selectPlaybook(playbooks, incident, facts) : playbooks.find((p) => p.name === restored.context.playbook);
    if (playbook === undefined) {
      out.push({
        ...base,
        playbook: restored?.context.playbook ?? null,
        step: null,
        action: null,
        verdict:
          restored === null
            ? `held: no playbook matches incident type ${incident.type} on ${incident.subject}`
            : `held: playbook ${restored.context.playbook} is no longer loaded`,
      });
      continue;
    }
    const state = restored ?? initialPlanState(incident, playbook, facts);
    const value = state.value as string;
    let ctx: IncidentPlanContext = {
      ...state.context,
      steps: WAITING.has(value) ? playbook.steps : state.context.steps,
      mode: playbook.mode,
    };
    if (!WAITING.has(value)) {
      const step = ctx.steps[ctx.step];
      out.push({
        ...base,
        playbook: playbook.name,
        step: ctx.step + 1,
        action: step?.action ?? null,
        verdict: value === 'escalated' ? `held: ladder escalated to a human (${ctx.reason})` : `in progress: ${value} (${ctx.reason})`,
      });
      continue;
    }
    const skipped: string[] = [];
    for (;;) {
      const { gate } = await decideGate(store, pass, ctx, playbook, incident, facts);
      const step = ctx.steps[ctx.step];
      if (gate.kind === 'skip' && ctx.step + 1 < ctx.steps.length) {
        skipped.push(`step ${ctx.step + 1} ${step?.action ?? '?'}: ${gate.reason}`);
        ctx = { ...ctx, step: ctx.step + 1, attempt: 1, retryFrom: null };
        continue;
      }
      const at = { ...base, skipped, playbook: playbook.name, step: ctx.step + 1, action: step?.action ?? null };
      if (gate.kind === 'skip')
        out.push({ ...at, step: null, action: null, verdict: `held: no step applies, would escalate (${gate.reason})` });
      else if (gate.kind === 'hold') out.push({ ...at, guardrail: gate.guardrail, verdict: `held by ${gate.guardrail}: ${gate.reason}` });
      else if (gate.kind === 'await_approval') out.push({ ...at, verdict: `waits for approval: ${gate.reason}` });
      else
        out.push({
          ...at,
          verdict:
            playbook.mode === 'shadow'
              ? 'would record (shadow: decided and audited, not performed)'
              : `would run${gate.note === '' ? '' : ` (${gate.note})`}`,
        });
      break;
    }
  }
  return out;
}
