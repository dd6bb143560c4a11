import type { ControlState } from '../knowledge/knowledge-store.js';
import type { Incident, IncidentRemediation } from '../knowledge/model/incident.js';
import { selectPlaybook, type Playbook } from './playbooks/playbook.js';

/** What plan would do for one open incident right now, and what would hold it back. */
export interface DryRunDecision {
  readonly incident: string;
  readonly type: string;
  readonly subject: string;
  readonly playbook: string | null;
  /** 1-based step that would run next, with its action; null when nothing would run. */
  readonly step: number | null;
  readonly action: string | null;
  /** "would run", "would record (shadow)", or "held: <why>". */
  readonly verdict: string;
}

/**
 * Pure: the plan's next move per open incident given the playbooks, the kill switch and the
 * incidents (a fleet_storm holds everything), without changing anything. The step is the one the
 * ladder is on (from the remediation record) or the first.
 */
export function planDryRun(
  playbooks: readonly Playbook[], control: ControlState, open: readonly { readonly incident: Incident; readonly remediation: IncidentRemediation | null }[],
): DryRunDecision[] {
  const storm = open.find((o) => o.incident.type === 'fleet_storm')?.incident;
  return open.map(({ incident: i, remediation: r }) => {
    const base = { incident: i.id, type: i.type, subject: i.subject };
    const pb = selectPlaybook(playbooks, i.type);
    if (pb === undefined) return { ...base, playbook: null, step: null, action: null, verdict: `held: no playbook matches incident type ${i.type}` };
    const index = r !== null && r.playbook === pb.name ? r.step : 0;
    const step = pb.steps[index];
    if (r !== null && (r.phase === 'needs_human' || r.phase === 'done')) return { ...base, playbook: pb.name, step: null, action: null, verdict: `held: ladder ${r.phase === 'done' ? 'finished' : 'escalated to a human'} (${r.reason})` };
    if (step === undefined) return { ...base, playbook: pb.name, step: null, action: null, verdict: 'held: no step left' };
    const at = { ...base, playbook: pb.name, step: index + 1, action: step.action };
    if (control.paused) return { ...at, verdict: `held: kill switch on (${control.reason})` };
    if (storm !== undefined && i.type !== 'fleet_storm') return { ...at, verdict: `held: fleet in storm (${storm.id})` };
    if (r?.phase === 'remediating' || r?.phase === 'verifying') return { ...at, verdict: `in progress: ${r.phase} (${r.reason})` };
    return { ...at, verdict: pb.mode === 'shadow' ? 'would record (shadow: decided and audited, not performed)' : 'would run' };
  });
}
