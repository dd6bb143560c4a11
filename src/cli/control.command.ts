import type { KnowledgeLocation } from './audit.command.js';
import type { Composition } from './composition.js';
import { CliError, EXIT_OK } from './exit-codes.js';

/**
 * `pause --reason` / `resume`: the kill switch. While paused, plan starts no step and execute
 * ends queued jobs as skipped with the reason. Both are audited with who asked and why.
 */
export async function setPausedCommand(
  c: Composition,
  loc: KnowledgeLocation,
  paused: boolean,
  reason: string | undefined,
  out: (line: string) => void,
  now = Date.now(),
): Promise<number> {
  if (paused && (reason === undefined || reason.trim() === ''))
    throw new CliError('pause needs --reason "…": the audit log records why remediation stopped');
  const k = await c.openKnowledge(loc.redisUrl, loc.prefix);
  try {
    const before = await k.store.getControl();
    if (before.paused === paused) {
      out(
        paused
          ? `already paused since ${before.since === null ? '?' : new Date(before.since).toISOString()}: ${before.reason}`
          : 'not paused',
      );
      return EXIT_OK;
    }
    const why = paused ? (reason ?? '').trim() : (reason?.trim() ?? 'resumed from the CLI');
    await k.store.setControl({ paused, reason: paused ? why : '', since: paused ? now : null });
    await k.audit.append({
      type: paused ? 'control.paused' : 'control.resumed',
      at: now,
      subject: 'control',
      message: paused ? `remediation paused: ${why}` : `remediation resumed (${why}); was paused: ${before.reason}`,
      data: { by: process.env['USER'] ?? 'unknown', reason: why },
    });
    out(paused ? `paused: ${why}` : 'resumed');
    return EXIT_OK;
  } finally {
    await k.close();
  }
}

/** `status`: the kill switch, and open incidents with where their remediation is. */
export async function statusCommand(
  c: Composition,
  loc: KnowledgeLocation,
  opts: { readonly json: boolean },
  out: (line: string) => void,
): Promise<number> {
  const k = await c.openKnowledge(loc.redisUrl, loc.prefix);
  try {
    const control = await k.store.getControl();
    const open = await k.store.listIncidents({ status: 'open' });
    const rows = await Promise.all(open.map(async (i) => ({ incident: i, remediation: await k.store.getRemediation(i.id) })));
    if (opts.json) {
      out(
        JSON.stringify(
          {
            control,
            open: rows.map((r) => ({
              id: r.incident.id,
              type: r.incident.type,
              subject: r.incident.subject,
              openedAt: r.incident.openedAt,
              remediation: r.remediation,
            })),
          },
          null,
          2,
        ),
      );
      return EXIT_OK;
    }
    out(
      control.paused
        ? `PAUSED since ${control.since === null ? '?' : new Date(control.since).toISOString()}: ${control.reason}`
        : 'remediation: active',
    );
    out(`${open.length} open incident(s)`);
    for (const { incident: i, remediation: r } of rows) {
      out(
        `  ${i.type.padEnd(28)} ${i.subject.padEnd(28)} opened ${new Date(i.openedAt).toISOString()}  ${r === null ? 'no plan yet' : `${r.phase}: ${r.reason}`}`,
      );
      if (r?.expiresWhileHeldAt !== undefined)
        out(`      the certificate expires at ${new Date(r.expiresWhileHeldAt).toISOString()} while held (escalated to a person)`);
      if (r?.phase === 'awaiting_approval' && r.planHash !== undefined)
        out(`      approve with: spire-healer approve ${i.id} --plan ${r.planHash}`);
    }
    return EXIT_OK;
  } finally {
    await k.close();
  }
}
