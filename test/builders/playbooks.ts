import { readFileSync } from 'node:fs';
import { parsePlaybooks } from '../../src/plan/playbooks/parse-playbooks.js';
import { defaultGuardrails, type Guardrails, type Playbook, type PlaybookStep } from '../../src/plan/playbooks/playbook.js';

/** A ladder step with test-friendly defaults (restart_envoy, 1 s job, 5 s verify of incident_resolved, 1 attempt). */
export function step(over: Partial<PlaybookStep> = {}): PlaybookStep {
  return {
    action: 'restart_envoy',
    params: {},
    when: {},
    jobTimeoutMs: 1_000,
    verify: { expect: 'incident_resolved', timeoutMs: 5_000 },
    attempts: 1,
    backoffMs: 1_000,
    ...over,
  };
}

/** No limits at all, for tests about something else. */
export const noGuardrails: Guardrails = {
  ...defaultGuardrails,
  cooldownMs: 0,
  maxActionsPerPlaybook: null,
  maxActionsPerSubject: null,
  maxConcurrent: null,
  blastRadius: { perService: null, perNode: null },
  stormCooldownMs: 0,
};

/** A playbook for rotation_failed with the given steps and guardrails. */
export function playbook(over: Omit<Partial<Playbook>, 'guardrails'> & { guardrails?: Partial<Guardrails> } = {}): Playbook {
  const { guardrails, ...rest } = over;
  return {
    name: 'pb',
    origin: '<test>',
    mode: 'auto',
    match: { types: ['rotation_failed'] },
    steps: [step()],
    escalate: { webhook: null, timeoutMs: 1_000 },
    ...rest,
    guardrails: { ...noGuardrails, ...guardrails },
  };
}

/** The shipped default playbooks (playbooks/defaults.yaml). */
export function defaultPlaybooks(): Playbook[] {
  const res = parsePlaybooks('playbooks/defaults.yaml', readFileSync('playbooks/defaults.yaml', 'utf8'));
  if (!res.ok) throw new Error(res.problems.map((p) => p.message).join('; '));
  return res.playbooks;
}
