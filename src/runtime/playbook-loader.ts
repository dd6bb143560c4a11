import { fileURLToPath } from 'node:url';
import { readInputFile } from './read-input-file.js';
import { formatYamlProblem } from '../knowledge/yaml-validation.js';
import { parsePlaybooks } from '../plan/playbooks/parse-playbooks.js';
import type { Playbook } from '../plan/playbooks/playbook.js';
import { ConfigError } from './config.js';

/** The playbooks shipped in the repo, used when the config lists none. */
export const DEFAULT_PLAYBOOKS_PATH = fileURLToPath(new URL('../../playbooks/defaults.yaml', import.meta.url));

/** The files a config's `playbooks` list stands for: the shipped defaults when it is empty. */
export function playbookPaths(paths: readonly string[]): readonly string[] {
  return paths.length === 0 ? [DEFAULT_PLAYBOOKS_PATH] : paths;
}

/** Parsed playbooks of several files, or every problem as file:line:column (reads only). */
export async function readPlaybookFiles(paths: readonly string[]): Promise<{ playbooks: Playbook[]; problems: string[]; texts: string[] }> {
  const playbooks: Playbook[] = [];
  const problems: string[] = [];
  const texts: string[] = [];
  for (const path of paths) {
    const file = await readInputFile(path, 'playbook');
    if (!file.ok) {
      problems.push(file.message);
      texts.push('');
      continue;
    }
    texts.push(file.text);
    const res = parsePlaybooks(path, file.text);
    if (res.ok) playbooks.push(...res.playbooks);
    else problems.push(...res.problems.map(formatYamlProblem));
  }
  const names = new Map<string, string>();
  for (const p of playbooks) {
    const first = names.get(p.name);
    if (first !== undefined) problems.push(`${p.origin}: playbook name "${p.name}" is also defined in ${first}`);
    else names.set(p.name, p.origin);
  }
  return { playbooks, problems, texts };
}

/**
 * Loads playbook files in order; with none configured, the shipped defaults apply.
 * Any problem in any file is a ConfigError listing every problem as file:line:column.
 */
export async function loadPlaybooks(paths: readonly string[]): Promise<Playbook[]> {
  const res = await readPlaybookFiles(playbookPaths(paths));
  if (res.problems.length > 0) throw new ConfigError(res.problems.join('\n'));
  return res.playbooks;
}
