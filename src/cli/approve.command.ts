import { parseDuration } from '../knowledge/duration.js';
import { loadConfig } from '../runtime/config.js';
import { loadPlaybooks } from '../runtime/playbook-loader.js';
import type { KnowledgeLocation } from './audit.command.js';
import type { Composition } from './composition.js';
import { CliError, EXIT_OK } from './exit-codes.js';

/** Options of `approve`. */
export interface ApproveOptions {
  /** Approve only if the pending plan has this hash (what the operator reviewed). */
  readonly plan?: string | undefined;
  /** How long the approval stays valid; default: the `guardrails.approvalTtl` of the incident's playbook. */
  readonly ttl?: string | undefined;
  readonly by?: string | undefined;
  /** Config file whose playbooks give the default TTL (as `run` would load them; none: the shipped defaults). */
  readonly config?: string | undefined;
}

/**
 * `approve INCIDENT`: approves the exact plan step the incident waits on (approve mode). The
 * approval records the plan's hash and expires after --ttl (default: the approvalTtl of the plan's
 * playbook, read from the config's playbook files); if the plan changes (playbook edited, next
 * step, other target) before it runs, the hash no longer matches and it waits again.
 */
export async function approveCommand(
  c: Composition,
  loc: KnowledgeLocation,
  incidentId: string,
  opts: ApproveOptions,
  out: (line: string) => void,
  now = Date.now(),
): Promise<number> {
  const explicitTtlMs = opts.ttl === undefined ? undefined : parseDuration(opts.ttl);
  if (explicitTtlMs === null || (explicitTtlMs !== undefined && explicitTtlMs <= 0))
    throw new CliError(`--ttl ${opts.ttl ?? ''}: expected a duration like 10m or 1h`);
  const k = await c.openKnowledge(loc.redisUrl, loc.prefix);
  try {
    const incident = await k.store.getIncident(incidentId);
    if (incident === null) throw new CliError(`no incident ${incidentId} under prefix ${loc.prefix} (see spire-healer status)`);
    if (incident.status !== 'open') throw new CliError(`incident ${incidentId} is already resolved; nothing to approve`);
    const r = await k.store.getRemediation(incidentId);
    if (r?.phase !== 'awaiting_approval' || r.planHash === undefined) {
      throw new CliError(`incident ${incidentId} is not waiting for approval (${r === null ? 'no plan yet' : `${r.phase}: ${r.reason}`})`);
    }
    if (opts.plan !== undefined && opts.plan !== r.planHash) {
      throw new CliError(`the plan changed: it is now ${r.planHash}, not ${opts.plan} (${r.reason}); review it and approve again`);
    }
    const ttlMs = explicitTtlMs ?? (await playbookApprovalTtl(opts.config, r.playbook, incidentId));
    const by = opts.by ?? process.env['USER'] ?? 'unknown';
    await k.store.putApproval({ incidentId, planHash: r.planHash, by, at: now, expiresAt: now + ttlMs });
    await k.audit.append({
      type: 'plan.approved',
      at: now,
      incidentId,
      subject: incident.subject,
      message: `${by} approved plan ${r.planHash} (step ${r.step + 1}, ${r.action ?? '?'} on ${incident.subject}) for ${Math.round(ttlMs / 1000)}s`,
      data: { by, planHash: r.planHash, step: r.step, action: r.action, expiresAt: now + ttlMs },
      dedupKey: `plan.approved--${incidentId}--${r.planHash}--${now}`,
    });
    out(
      `approved plan ${r.planHash} for ${incidentId}: step ${r.step + 1} ${r.action ?? '?'} on ${incident.subject}, valid until ${new Date(now + ttlMs).toISOString()}`,
    );
    return EXIT_OK;
  } finally {
    await k.close();
  }
}

/** The approvalTtl of the named playbook among those the config loads (the shipped defaults without one). */
async function playbookApprovalTtl(config: string | undefined, name: string, incidentId: string): Promise<number> {
  const playbooks = await loadPlaybooks(config === undefined ? [] : (await loadConfig(config)).playbooks);
  const playbook = playbooks.find((p) => p.name === name);
  if (playbook === undefined) {
    const where = config === undefined ? 'the shipped playbooks (no --config)' : `the playbooks of ${config}`;
    throw new CliError(
      `incident ${incidentId} waits on playbook "${name}", which is not among ${where}: pass the daemon's --config, or --ttl`,
    );
  }
  return playbook.guardrails.approvalTtlMs;
}
