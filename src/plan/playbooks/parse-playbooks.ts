import { INCIDENT_TYPES } from '../../knowledge/model/incident.js';
import { z } from 'zod';
import type { Playbook } from './playbook.js';
import { parseDuration } from '../../knowledge/duration.js';
import { validateYaml, type YamlProblem } from '../../knowledge/yaml-validation.js';

const duration = z.string().refine((s) => parseDuration(s) !== null, { message: 'expected a duration like 30s, 5m, 1h, 500ms' })
  // For the published JSON Schema (refinements cannot be expressed there).
  .meta({ pattern: '^([0-9]+(ms|s|m|h))+$', description: 'a duration like 30s, 5m, 1h, 500ms or 1m30s' });

const stepSchema = z.strictObject({
  action: z.enum(['restart_envoy']),
  jobTimeout: duration.default('15s'),
  verifyTimeout: duration.default('20s'),
});

const playbookSchema = z.strictObject({
  name: z.string().regex(/^[a-z0-9][a-z0-9-]*$/, 'expected lowercase letters, digits and dashes'),
  mode: z.enum(['auto', 'shadow']).default('auto'),
  match: z.strictObject({ types: z.array(z.enum(INCIDENT_TYPES)).min(1) }),
  steps: z.array(stepSchema).min(1),
});

const fileSchema = z.strictObject({ playbooks: z.array(playbookSchema).min(1) });

/**
 * The JSON Schema of a playbook file, for editors (yaml-language-server: add
 * `# yaml-language-server: $schema=<path>/schemas/playbooks.schema.json` at the top of a file).
 * `schemas/playbooks.schema.json` is this, committed; a test keeps the two equal.
 */
export function playbookFileJsonSchema(): Record<string, unknown> {
  return { ...z.toJSONSchema(fileSchema, { io: 'input' }), title: 'spire-healer playbooks', $id: 'https://spire-healer.dev/schemas/playbooks.schema.json' };
}

/** Result of parsing one playbook file. */
export type ParsePlaybooksResult =
  | { readonly ok: true; readonly playbooks: Playbook[] }
  | { readonly ok: false; readonly problems: YamlProblem[] };

/**
 * Pure: YAML text -> validated playbooks, or every problem with file:line:column.
 * Reading the file is the caller's job.
 */
export function parsePlaybooks(file: string, text: string): ParsePlaybooksResult {
  const res = validateYaml(file, text, fileSchema);
  if (!res.ok) return res;
  return {
    ok: true,
    playbooks: res.value.playbooks.map((p) => ({
      name: p.name,
      origin: file,
      mode: p.mode,
      match: { types: p.match.types },
      steps: p.steps.map((s) => ({
        action: s.action,
        jobTimeoutMs: parseDuration(s.jobTimeout) ?? 15_000,
        verifyTimeoutMs: parseDuration(s.verifyTimeout) ?? 20_000,
      })),
    })),
  };
}
