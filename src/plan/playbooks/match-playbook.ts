import type { Incident } from '../../knowledge/model/incident.js';
import type { SubjectFacts } from '../subject-facts.js';
import type { Playbook, PlaybookMatch, StepPreconditions } from './playbook.js';

/** Glob over a SPIFFE ID: `**` spans path segments, `*` stays within one. */
export function spiffeGlob(pattern: string): RegExp {
  const re = pattern
    .split('**')
    .map((part) =>
      part
        .split('*')
        .map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
        .join('[^/]*'),
    )
    .join('.*');
  return new RegExp(`^${re}$`);
}

/** Why `match` does not cover the incident, or null when it does. Fields not given match anything. */
export function matchMismatch(match: PlaybookMatch, incident: Incident, f: SubjectFacts): string | null {
  if (!match.types.includes(incident.type)) return `type ${incident.type} not in [${match.types.join(', ')}]`;
  if (match.trustDomains !== undefined && (f.trustDomain === null || !match.trustDomains.includes(f.trustDomain))) {
    return `trust domain ${f.trustDomain ?? '(unknown)'} not in [${match.trustDomains.join(', ')}]`;
  }
  if (match.spiffeIds !== undefined && (f.spiffeId === null || !match.spiffeIds.some((p) => spiffeGlob(p).test(f.spiffeId ?? '')))) {
    return `SPIFFE ID ${f.spiffeId ?? '(unknown)'} matches none of [${match.spiffeIds.join(', ')}]`;
  }
  if (match.namespaces !== undefined && (f.namespace === null || !match.namespaces.includes(f.namespace))) {
    return `namespace ${f.namespace ?? '(unknown)'} not in [${match.namespaces.join(', ')}]`;
  }
  if (match.platforms !== undefined && (f.platform === null || !match.platforms.includes(f.platform))) {
    return `platform ${f.platform ?? '(unknown)'} not in [${match.platforms.join(', ')}]`;
  }
  for (const [k, v] of Object.entries(match.labels ?? {})) {
    if (f.labels[k] !== v) return `label ${k}=${v} not on ${f.subject}`;
  }
  return null;
}

/** The first playbook (in load order) whose match covers the incident. */
export function selectPlaybook(playbooks: readonly Playbook[], incident: Incident, facts: SubjectFacts): Playbook | undefined {
  return playbooks.find((p) => matchMismatch(p.match, incident, facts) === null);
}

/** Why a step's preconditions fail for the incident, or null when they all hold. */
export function preconditionFailure(when: StepPreconditions, incident: Incident, f: SubjectFacts): string | null {
  if (when.causes !== undefined && (incident.cause === undefined || !when.causes.includes(incident.cause))) {
    return `diagnosed cause ${incident.cause ?? '(none)'} is not one of [${when.causes.join(', ')}]`;
  }
  if (when.platforms !== undefined && (f.platform === null || !when.platforms.includes(f.platform))) {
    return `platform ${f.platform ?? '(unknown)'} is not one of [${when.platforms.join(', ')}]`;
  }
  // Not yet known (the server's agent list not read yet): the step may run, and force_rotation
  // reads the agent live (GetAgent) and skips itself when it cannot re-attest.
  if (when.agentCanReattest !== undefined && f.agentCanReattest !== null && f.agentCanReattest !== when.agentCanReattest) {
    return `the agent ${f.agentCanReattest ? 'can' : 'cannot'} re-attest`;
  }
  if (when.agentHealthy !== undefined && f.agentHealthy !== when.agentHealthy) {
    return f.agentHealthy === null ? "the agent's health is unknown" : `the agent is ${f.agentHealthy ? 'healthy' : 'unhealthy'}`;
  }
  return null;
}
