import type { KnowledgeStore } from '../knowledge/knowledge-store.js';
import type { RotationPolicy } from '../knowledge/svid-rotation.js';
import { decidePass, type IncidentDecision } from './decide-pass.js';
import { gatherPass } from './gather-pass.js';
import type { Playbook } from './playbooks/playbook.js';
import { DEFAULT_ROTATION } from './reconcile-plans.js';

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
  /** When held past the affected certificate's expiry: when it expires (the plan escalates once). */
  readonly expiresWhileHeldAt: number | null;
  /** "would run", "would record (shadow)", "waits for approval: …", "in progress: …" or "held: <why>". */
  readonly verdict: string;
}

/**
 * For every open incident, the plan's next move given the playbooks and everything in Redis
 * (kill switch, storm, ledger, approvals, in-flight plans): the decisions of the very pass the
 * daemon would run now (gatherPass, then decidePass), shown instead of applied. Reads only:
 * nothing is written, queued or audited.
 */
export async function planDryRun(
  store: KnowledgeStore,
  playbooks: readonly Playbook[],
  now: number,
  rotation: RotationPolicy = DEFAULT_ROTATION,
): Promise<DryRunDecision[]> {
  const decisions = decidePass(await gatherPass(store, playbooks, now), { playbooks, rotation });
  return decisions.filter((d) => d.incident.status === 'open').map(dryRunOf);
}

function dryRunOf(d: IncidentDecision): DryRunDecision {
  const i = d.incident;
  const base = { incident: i.id, type: i.type, subject: i.subject, cause: i.cause ?? null, guardrail: null, expiresWhileHeldAt: null };
  const after = d.after;
  if (after === null)
    return {
      ...base,
      playbook: null,
      step: null,
      action: null,
      skipped: [],
      verdict: `held: no playbook matches incident type ${i.type} on ${i.subject}`,
    };
  const c = after.context;
  const skipped = d.effects.flatMap((e) =>
    e.kind === 'audit' && e.event.type === 'plan.step_skipped' ? [e.event.message.replace(/^skipped /, '')] : [],
  );
  const at = { ...base, skipped, playbook: c.playbook, step: c.step + 1, action: c.steps[c.step]?.action ?? null };
  const startsNow = after.value === 'executing' && c.jobId !== d.before?.context.jobId;
  if (startsNow) {
    const note = d.gate?.kind === 'go' && d.gate.note !== '' ? ` (${d.gate.note})` : '';
    return { ...at, verdict: c.mode === 'shadow' ? 'would record (shadow: decided and audited, not performed)' : `would run${note}` };
  }
  if (after.value === 'held') {
    const expires = c.expiresWhileHeldAt ?? null;
    const past = expires === null ? '' : `; the certificate expires at ${new Date(expires).toISOString()} while held (escalated)`;
    return { ...at, guardrail: c.heldBy, expiresWhileHeldAt: expires, verdict: `held by ${c.heldBy ?? '?'}: ${c.reason}${past}` };
  }
  if (after.value === 'awaitingApproval') return { ...at, verdict: `waits for approval: ${c.reason}` };
  if (after.value === 'escalated') return { ...at, step: null, action: null, verdict: `held: ladder escalated to a human (${c.reason})` };
  return { ...at, verdict: `in progress: ${after.value} (${c.reason})` };
}
