import { planDryRun } from '../plan/dry-run.js';
import { loadConfig } from '../runtime/config.js';
import { loadPlaybooks } from '../runtime/playbook-loader.js';
import type { KnowledgeLocation } from './audit.command.js';
import type { Composition } from './composition.js';
import { CliError, EXIT_OK } from './exit-codes.js';

/** `plan --dry-run`: for every open incident, the playbook and step that would run, or why it is held. Changes nothing. */
export async function planDryRunCommand(
  c: Composition,
  loc: KnowledgeLocation,
  opts: { readonly config?: string | undefined; readonly dryRun: boolean; readonly json: boolean },
  out: (line: string) => void,
): Promise<number> {
  if (!opts.dryRun) throw new CliError('plan only runs with --dry-run here; the daemon (`run`) is what acts');
  const playbooks = await loadPlaybooks(opts.config === undefined ? [] : (await loadConfig(opts.config)).playbooks);
  const k = await c.openKnowledge(loc.redisUrl, loc.prefix);
  try {
    const decisions = await planDryRun(k.store, playbooks, Date.now());
    if (opts.json) out(JSON.stringify(decisions, null, 2));
    else if (decisions.length === 0) out(`no open incidents under prefix ${loc.prefix}: nothing would run`);
    else {
      for (const d of decisions) {
        out(
          `${d.type} on ${d.subject}${d.cause === null ? '' : ` (${d.cause})`}: ${d.playbook === null ? '-' : `${d.playbook} step ${d.step ?? '-'}${d.action === null ? '' : ` ${d.action}`}`} — ${d.verdict}`,
        );
        for (const s of d.skipped) out(`    skips ${s}`);
        if (d.expiresWhileHeldAt !== null)
          out(`    the certificate expires at ${new Date(d.expiresWhileHeldAt).toISOString()} while held (escalated to a person)`);
      }
    }
    return EXIT_OK;
  } finally {
    await k.close();
  }
}
