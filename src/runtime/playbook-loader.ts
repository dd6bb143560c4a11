import { readInputFile } from './read-input-file.js';
import { formatYamlProblem } from '../knowledge/yaml-validation.js';
import { parsePlaybooks } from '../plan/playbooks/parse-playbooks.js';
import { builtInPlaybooks, type Playbook } from '../plan/playbooks/playbook.js';
import { ConfigError } from './config.js';

/**
 * Loads playbook files in order; with none configured, the built-in playbooks apply.
 * Any problem in any file is a ConfigError listing every problem as file:line:column.
 */
export async function loadPlaybooks(paths: readonly string[]): Promise<Playbook[]> {
  if (paths.length === 0) return [...builtInPlaybooks];
  const out: Playbook[] = [];
  const problems: string[] = [];
  for (const path of paths) {
    const file = await readInputFile(path, 'playbook');
    if (!file.ok) {
      problems.push(file.message);
      continue;
    }
    const text = file.text;
    const res = parsePlaybooks(path, text);
    if (res.ok) out.push(...res.playbooks);
    else problems.push(...res.problems.map(formatYamlProblem));
  }
  if (problems.length > 0) throw new ConfigError(problems.join('\n'));
  return out;
}
