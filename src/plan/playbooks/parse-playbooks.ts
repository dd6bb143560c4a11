import { z } from 'zod';
import { ACTION_NAMES } from '../../knowledge/model/action-run.js';
import { INCIDENT_CAUSES, INCIDENT_TYPES } from '../../knowledge/model/incident.js';
import { parseDuration } from '../../knowledge/duration.js';
import { validateYaml, type YamlProblem } from '../../knowledge/yaml-validation.js';
import { defaultGuardrails, POST_CONDITIONS, type FreezePeriod, type Guardrails, type Limit, type Playbook } from './playbook.js';

/** What parseDuration accepts, as a JSON Schema pattern for editors (kept equal by a test). */
export const DURATION_PATTERN = '^\\s*([0-9]+(\\.[0-9]+)?(ms|s|m|h|d))+\\s*$';

const duration = z
  .string()
  .refine((s) => parseDuration(s) !== null, { message: 'expected a duration like 30s, 5m, 1h, 500ms' })
  // For the published JSON Schema (refinements cannot be expressed there).
  .meta({ pattern: DURATION_PATTERN, description: 'a duration like 30s, 5m, 1h, 500ms, 1m30s, 1.5h or 1d' });

const platform = z.enum(['kubernetes', 'cloudrun']);
const paramValue = z.union([z.string(), z.number(), z.boolean(), z.array(z.string())]);

const stepSchema = z.strictObject({
  action: z.enum(ACTION_NAMES),
  params: z.record(z.string(), paramValue).default({}).describe('passed to the action as is; see docs/playbooks.md per action'),
  when: z
    .strictObject({
      causes: z.array(z.enum(INCIDENT_CAUSES)).min(1).optional(),
      platforms: z.array(platform).min(1).optional(),
      agentCanReattest: z.boolean().optional(),
      agentHealthy: z.boolean().optional(),
    })
    .default({})
    .describe('preconditions: the step is skipped (and audited) unless all hold'),
  timeout: duration.default('30s').describe('how long the job may take'),
  verify: z
    .strictObject({
      expect: z.enum(POST_CONDITIONS).default('incident_resolved'),
      timeout: duration.default('60s'),
    })
    .default({ expect: 'incident_resolved', timeout: '60s' }),
  attempts: z.int().min(1).max(10).default(1),
  backoff: duration
    .default('10s')
    .describe('delay before the 2nd attempt, doubled per further attempt, capped by the time left before expiry'),
});

const countWindow = z.strictObject({ count: z.int().min(1), window: duration });
const limit = z.union([z.int().min(1), z.string().regex(/^([1-9][0-9]?|100)%$/, 'expected a count like 2 or a share like 25%')]);
const hhmm = z.string().regex(/^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$/, 'expected HH:MM (UTC)');
const weekday = z.enum(['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat']);
const isoTime = z.iso.datetime({ offset: true });

const freezeSchema = z.union([
  z.strictObject({ reason: z.string().min(1), from: isoTime, to: isoTime }),
  z.strictObject({ reason: z.string().min(1), weekly: z.strictObject({ days: z.array(weekday).min(1), start: hhmm, end: hhmm }) }),
]);

const guardrailsSchema = z.strictObject({
  cooldown: duration.optional().describe('per subject, across incidents'),
  cooldownYieldsToExpiry: z
    .boolean()
    .optional()
    .describe("default false: a cooldown that would hold a step past the certificate's expiry is escalated; true: the step runs"),
  maxActions: z.strictObject({ perPlaybook: countWindow.optional(), perSubject: countWindow.optional() }).optional(),
  maxConcurrent: z.int().min(1).optional(),
  blastRadius: z.strictObject({ perService: limit.optional(), perNode: limit.optional() }).optional(),
  stormCooldown: duration.optional(),
  freeze: z.array(freezeSchema).optional(),
  approvalTtl: duration.optional(),
});

const playbookSchema = z.strictObject({
  name: z.string().regex(/^[a-z0-9][a-z0-9-]*$/, 'expected lowercase letters, digits and dashes'),
  mode: z.enum(['auto', 'approve', 'shadow']).default('auto'),
  match: z.strictObject({
    types: z.array(z.enum(INCIDENT_TYPES)).min(1),
    trustDomains: z.array(z.string().min(1)).min(1).optional(),
    spiffeIds: z.array(z.string().startsWith('spiffe://')).min(1).optional().describe('globs: * within a path segment, ** across'),
    namespaces: z.array(z.string().min(1)).min(1).optional(),
    platforms: z.array(platform).min(1).optional(),
    labels: z.record(z.string(), z.string()).optional(),
  }),
  steps: z.array(stepSchema).min(1),
  escalate: z.strictObject({ webhook: z.url().optional(), timeout: duration.default('10s') }).optional(),
  guardrails: guardrailsSchema.optional(),
});

const fileSchema = z.strictObject({ playbooks: z.array(playbookSchema).min(1) });

/**
 * The JSON Schema of a playbook file, for editors (yaml-language-server: add
 * `# yaml-language-server: $schema=<path>/schemas/playbooks.schema.json` at the top of a file).
 * `schemas/playbooks.schema.json` is this, committed; a test keeps the two equal.
 */
export function playbookFileJsonSchema(): Record<string, unknown> {
  return {
    ...z.toJSONSchema(fileSchema, { io: 'input' }),
    title: 'spire-healer playbooks',
    $id: 'https://spire-healer.dev/schemas/playbooks.schema.json',
  };
}

/** Result of parsing one playbook file. */
export type ParsePlaybooksResult =
  { readonly ok: true; readonly playbooks: Playbook[] } | { readonly ok: false; readonly problems: YamlProblem[] };

const ms = (d: string | undefined, fallback: number): number => (d === undefined ? fallback : (parseDuration(d) ?? fallback));
const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];
const minuteOf = (hhmmText: string): number => Number(hhmmText.slice(0, 2)) * 60 + Number(hhmmText.slice(3, 5));
const limitOf = (l: number | string | undefined, fallback: Limit | null): Limit | null =>
  l === undefined ? fallback : typeof l === 'number' ? { count: l } : { percent: Number(l.slice(0, -1)) };

function guardrailsOf(g: z.output<typeof guardrailsSchema> | undefined): Guardrails {
  const d = defaultGuardrails;
  const cw = (x: { count: number; window: string } | undefined, fb: Guardrails['maxActionsPerPlaybook']) =>
    x === undefined ? fb : { count: x.count, windowMs: ms(x.window, 3_600_000) };
  return {
    cooldownMs: ms(g?.cooldown, d.cooldownMs),
    cooldownYieldsToExpiry: g?.cooldownYieldsToExpiry ?? d.cooldownYieldsToExpiry,
    maxActionsPerPlaybook: cw(g?.maxActions?.perPlaybook, d.maxActionsPerPlaybook),
    maxActionsPerSubject: cw(g?.maxActions?.perSubject, d.maxActionsPerSubject),
    maxConcurrent: g?.maxConcurrent ?? d.maxConcurrent,
    blastRadius: {
      perService: limitOf(g?.blastRadius?.perService, d.blastRadius.perService),
      perNode: limitOf(g?.blastRadius?.perNode, d.blastRadius.perNode),
    },
    stormCooldownMs: ms(g?.stormCooldown, d.stormCooldownMs),
    freeze: (g?.freeze ?? []).map((f): FreezePeriod =>
      'from' in f
        ? { reason: f.reason, from: Date.parse(f.from), to: Date.parse(f.to) }
        : {
            reason: f.reason,
            weekly: {
              days: f.weekly.days.map((x) => DAYS.indexOf(x)),
              startMinute: minuteOf(f.weekly.start),
              endMinute: minuteOf(f.weekly.end),
            },
          },
    ),
    approvalTtlMs: ms(g?.approvalTtl, d.approvalTtlMs),
  };
}

/** Drops keys whose value is undefined (optional fields stay absent, not present-and-undefined). */
function definedOnly<T extends object>(o: T): { [K in keyof T]: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as { [K in keyof T]: Exclude<T[K], undefined> };
}

/**
 * Pure: YAML text -> validated playbooks, or every problem with file:line:column.
 * Reading the file is the caller's job. Names must be unique within the file.
 */
export function parsePlaybooks(file: string, text: string): ParsePlaybooksResult {
  const res = validateYaml(file, text, fileSchema);
  if (!res.ok) return res;
  const seen = new Set<string>();
  for (const p of res.value.playbooks) {
    if (seen.has(p.name))
      return { ok: false, problems: [{ file, line: 1, column: 1, path: 'playbooks', message: `playbook name "${p.name}" is used twice` }] };
    seen.add(p.name);
  }
  return {
    ok: true,
    playbooks: res.value.playbooks.map((p) => ({
      name: p.name,
      origin: file,
      mode: p.mode,
      match: definedOnly(p.match),
      steps: p.steps.map((s) => ({
        action: s.action,
        params: s.params,
        when: definedOnly(s.when),
        jobTimeoutMs: ms(s.timeout, 30_000),
        verify: { expect: s.verify.expect, timeoutMs: ms(s.verify.timeout, 60_000) },
        attempts: s.attempts,
        backoffMs: ms(s.backoff, 10_000),
      })),
      escalate: { webhook: p.escalate?.webhook ?? null, timeoutMs: ms(p.escalate?.timeout, 10_000) },
      guardrails: guardrailsOf(p.guardrails),
    })),
  };
}
