import { parse } from 'yaml';
import { ConfigError, loadConfig } from '../runtime/config.js';
import { loadPlaybooks } from '../runtime/playbook-loader.js';
import { readInputFile } from '../runtime/read-input-file.js';
import { EXIT_OK, EXIT_USAGE } from './exit-codes.js';

/**
 * What a file is, from its top-level keys: a scenario has `fleet`, a playbook file has only
 * `playbooks`, anything else is a daemon config. YAML too broken to read goes to the parser that
 * its top-level words suggest, which then names the broken line.
 */
function kindOf(text: string): 'playbooks' | 'scenario' | 'config' {
  let keys: string[];
  try {
    const doc: unknown = parse(text);
    keys = doc !== null && typeof doc === 'object' && !Array.isArray(doc) ? Object.keys(doc) : [];
  } catch {
    keys = [...text.matchAll(/^([A-Za-z]+)\s*:/gm)].map((m) => m[1] ?? '');
  }
  if (keys.includes('fleet')) return 'scenario';
  if (keys.length > 0 && keys.every((k) => k === 'playbooks')) return 'playbooks';
  return 'config';
}

/**
 * `validate FILE…`: checks playbook files, scenarios and config files (a config's playbooks too).
 * Prints "FILE: ok (…)" or every problem as file:line:column: key: what was expected; exit 2 when
 * any file has a problem.
 */
export async function validateCommand(paths: readonly string[], out: (line: string) => void, err: (line: string) => void): Promise<number> {
  let bad = 0;
  const problem = (message: string): void => {
    for (const line of message.split('\n')) err(line);
    bad++;
  };
  for (const path of paths) {
    const file = await readInputFile(path, 'input');
    if (!file.ok) {
      problem(file.message);
      continue;
    }
    try {
      const kind = kindOf(file.text);
      if (kind === 'playbooks') {
        const pbs = await loadPlaybooks([path]);
        out(`${path}: ok (${pbs.length} playbook(s): ${pbs.map((p) => p.name).join(', ')})`);
      } else if (kind === 'scenario') {
        // The scenario parser lives with the simulator (src/sim): loaded only when a scenario is checked.
        const { parseScenario, ScenarioError } = await import('../sim/scenario.js');
        try {
          const s = parseScenario(path, file.text);
          out(`${path}: ok (scenario ${s.name}: ${s.workloads.length} workloads, ${s.faults.length} fault(s))`);
        } catch (e) {
          if (!(e instanceof ScenarioError)) throw e;
          problem(e.message);
        }
      } else {
        const c = await loadConfig(path);
        const pbs = await loadPlaybooks(c.playbooks);
        out(`${path}: ok (config; ${pbs.length} playbook(s))`);
      }
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      problem(e.message);
    }
  }
  return bad === 0 ? EXIT_OK : EXIT_USAGE;
}
