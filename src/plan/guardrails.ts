import type { ControlState } from '../knowledge/knowledge-store.js';
import type { Incident } from '../knowledge/model/incident.js';
import { formatDuration } from '../knowledge/svid-rotation.js';
import type { IncidentType } from '../knowledge/model/incident.js';
import { remainingLadderMs } from './pacing.js';
import type { FreezePeriod, Limit, Playbook, PlaybookStep } from './playbooks/playbook.js';
import type { SubjectFacts } from './subject-facts.js';

/** Everything the guardrail chain looks at, gathered from Redis once per decision. */
export interface GuardInput {
  readonly now: number;
  readonly playbook: Playbook;
  readonly incident: Incident;
  readonly facts: SubjectFacts;
  readonly control: ControlState;
  /** An open fleet_storm incident, and when the last one resolved. */
  readonly storm: { readonly open: Incident | null; readonly lastResolvedAt: number | null };
  /** From the action ledger: actions in each window, and the last action on the subject. */
  readonly ledger: {
    readonly playbookInWindow: number;
    readonly subjectInWindow: number;
    readonly lastOnSubject: { readonly at: number; readonly incidentId: string } | null;
  };
  /** Plans executing, verifying or escalated right now (the incident itself not counted). */
  readonly inFlight: { readonly playbook: number; readonly service: number; readonly node: number };
  /** Size of the subject's service (replicas) and node (workloads), when known. */
  readonly groupSizes: { readonly service: number | null; readonly node: number | null };
}

/** A guardrail holding a step back, named so that dry-run, audit and metrics can say which. */
export interface GuardHold {
  readonly guardrail:
    | 'kill_switch'
    | 'storm'
    | 'storm_cooldown'
    | 'freeze'
    | 'cooldown'
    | 'max_actions_playbook'
    | 'max_actions_subject'
    | 'max_concurrent'
    | 'blast_radius_service'
    | 'blast_radius_node';
  readonly reason: string;
}

/** How many of a group of `size` may be in flight at once: a count, or a share rounded down but at least 1. */
export function allowedBy(limit: Limit, size: number | null): number {
  if ('count' in limit) return limit.count;
  return Math.max(1, Math.floor(((size ?? 1) * limit.percent) / 100));
}

/** Whether `now` falls in a freeze period; returns it. Weekly periods are in UTC. */
export function activeFreeze(periods: readonly FreezePeriod[], now: number): FreezePeriod | undefined {
  const d = new Date(now);
  const day = d.getUTCDay();
  const minute = d.getUTCHours() * 60 + d.getUTCMinutes();
  return periods.find((p) => {
    if ('from' in p) return now >= p.from && now < p.to;
    const w = p.weekly;
    if (w.startMinute <= w.endMinute) return w.days.includes(day) && minute >= w.startMinute && minute < w.endMinute;
    // Crosses midnight: from start on a listed day until end on the next day.
    return (w.days.includes(day) && minute >= w.startMinute) || (w.days.includes((day + 6) % 7) && minute < w.endMinute);
  });
}

/**
 * Pure: the first guardrail that holds the step back, or null when it may start. One check per
 * line, in order of how much they stop: global switches, then time, then budgets, then radius.
 * `yielded`: guardrails that gave way (a cooldown yielding to the certificate's expiry).
 */
export function checkGuardrails(g: GuardInput, yielded: ReadonlySet<GuardHold['guardrail']> = new Set()): GuardHold | null {
  const r = g.playbook.guardrails;
  if (g.control.paused) return { guardrail: 'kill_switch', reason: `kill switch on: ${g.control.reason}` };
  if (g.storm.open !== null && g.incident.type !== 'fleet_storm')
    return { guardrail: 'storm', reason: `fleet in storm (${g.storm.open.id}): ${g.storm.open.explanation}` };
  if (g.storm.lastResolvedAt !== null && g.now < g.storm.lastResolvedAt + r.stormCooldownMs) {
    return {
      guardrail: 'storm_cooldown',
      reason: `storm cooldown: the last fleet storm ended ${formatDuration(g.now - g.storm.lastResolvedAt)} ago, under ${formatDuration(r.stormCooldownMs)}`,
    };
  }
  const freeze = activeFreeze(r.freeze, g.now);
  if (freeze !== undefined) return { guardrail: 'freeze', reason: `freeze period: ${freeze.reason}` };
  const last = g.ledger.lastOnSubject;
  if (last !== null && last.incidentId !== g.incident.id && g.now < last.at + r.cooldownMs && !yielded.has('cooldown')) {
    return {
      guardrail: 'cooldown',
      reason: `cooldown: ${g.facts.subject} was acted on ${formatDuration(g.now - last.at)} ago (incident ${last.incidentId}), under ${formatDuration(r.cooldownMs)}`,
    };
  }
  if (r.maxActionsPerPlaybook !== null && g.ledger.playbookInWindow >= r.maxActionsPerPlaybook.count) {
    return {
      guardrail: 'max_actions_playbook',
      reason: `budget: playbook ${g.playbook.name} took ${g.ledger.playbookInWindow} actions in the last ${formatDuration(r.maxActionsPerPlaybook.windowMs)} (max ${r.maxActionsPerPlaybook.count})`,
    };
  }
  if (r.maxActionsPerSubject !== null && g.ledger.subjectInWindow >= r.maxActionsPerSubject.count) {
    return {
      guardrail: 'max_actions_subject',
      reason: `budget: ${g.facts.subject} had ${g.ledger.subjectInWindow} actions in the last ${formatDuration(r.maxActionsPerSubject.windowMs)} (max ${r.maxActionsPerSubject.count})`,
    };
  }
  if (r.maxConcurrent !== null && g.inFlight.playbook >= r.maxConcurrent) {
    return {
      guardrail: 'max_concurrent',
      reason: `concurrency: ${g.inFlight.playbook} steps of playbook ${g.playbook.name} in flight (max ${r.maxConcurrent})`,
    };
  }
  if (r.blastRadius.perService !== null && g.facts.service !== null) {
    const allowed = allowedBy(r.blastRadius.perService, g.groupSizes.service);
    if (g.inFlight.service >= allowed)
      return {
        guardrail: 'blast_radius_service',
        reason: `blast radius: ${g.inFlight.service} of ${g.groupSizes.service ?? '?'} replicas of ${g.facts.service} already in remediation (max ${allowed})`,
      };
  }
  if (r.blastRadius.perNode !== null && g.facts.node !== null) {
    const allowed = allowedBy(r.blastRadius.perNode, g.groupSizes.node);
    if (g.inFlight.node >= allowed)
      return {
        guardrail: 'blast_radius_node',
        reason: `blast radius: ${g.inFlight.node} of ${g.groupSizes.node ?? '?'} workloads on node ${g.facts.node} already in remediation (max ${allowed})`,
      };
  }
  return null;
}

/** Incident types whose remediation must finish before the affected certificate expires (see pacing.ts). */
export const EXPIRY_BOUND_TYPES: ReadonlySet<IncidentType> = new Set(['rotation_failed', 'agent_disconnected']);

/**
 * When a hold ends by itself: the end of the cooldown, of the storm cooldown or of the freeze
 * period. Null for holds with no known end (kill switch, storm, budgets, concurrency, blast radius).
 */
export function holdEndsAt(hold: GuardHold, g: GuardInput): number | null {
  const r = g.playbook.guardrails;
  switch (hold.guardrail) {
    case 'cooldown': {
      const last = g.ledger.lastOnSubject;
      return last === null ? null : last.at + r.cooldownMs;
    }
    case 'storm_cooldown':
      return g.storm.lastResolvedAt === null ? null : g.storm.lastResolvedAt + r.stormCooldownMs;
    case 'freeze': {
      const p = activeFreeze(r.freeze, g.now);
      if (p === undefined) return null;
      if ('from' in p) return p.to;
      const d = new Date(g.now);
      const minute = d.getUTCHours() * 60 + d.getUTCMinutes();
      const left = p.weekly.endMinute > minute ? p.weekly.endMinute - minute : 1_440 - minute + p.weekly.endMinute;
      return g.now - (g.now % 60_000) + left * 60_000;
    }
    default:
      return null;
  }
}

/**
 * Pure: when the affected certificate expires, if the hold keeps the step back past the last
 * moment the rest of the ladder can still run in full before that expiry (expiry minus the
 * ladder's worst case, pacing.ts); else null. A hold with a known end counts when it ends after
 * that moment; one with no known end once that moment has come. Only for incidents whose
 * remediation races the certificate (EXPIRY_BOUND_TYPES) with a known expiry.
 */
export function expiresWhileHeld(
  hold: GuardHold,
  g: GuardInput,
  steps: readonly PlaybookStep[],
  step: number,
  attempt: number,
): number | null {
  const expiresAt = g.facts.expiresAt;
  if (expiresAt === null || !EXPIRY_BOUND_TYPES.has(g.incident.type)) return null;
  const latestStart = expiresAt - remainingLadderMs(steps, step, attempt);
  const end = holdEndsAt(hold, g);
  return (end === null ? g.now >= latestStart : end > latestStart) ? expiresAt : null;
}
