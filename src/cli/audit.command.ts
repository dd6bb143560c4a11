import type { Composition } from './composition.js';
import { CliError, EXIT_FAILED, EXIT_OK } from './exit-codes.js';
import { formatAuditEntry } from './timeline.js';

/** Where the knowledge to read lives. */
export interface KnowledgeLocation {
  readonly redisUrl: string;
  readonly prefix: string;
}

/** Options of `audit`. */
export interface AuditListOptions {
  readonly json: boolean;
  readonly since?: string | undefined;
  readonly incident?: string | undefined;
}

/** Parses --since: an ISO time, or a duration back from now like 15m. */
export function parseSince(since: string, now: number): number {
  const rel = /^(\d+)(s|m|h|d)$/.exec(since);
  if (rel !== null) {
    const n = Number(rel[1]);
    const unit = rel[2] === 's' ? 1_000 : rel[2] === 'm' ? 60_000 : rel[2] === 'h' ? 3_600_000 : 86_400_000;
    return now - n * unit;
  }
  const t = Date.parse(since);
  if (Number.isNaN(t)) throw new CliError(`--since: expected an ISO-8601 time or a duration like 15m, got "${since}"`);
  return t;
}

/** `audit`: prints the log, oldest first. */
export async function auditListCommand(
  c: Composition,
  loc: KnowledgeLocation,
  opts: AuditListOptions,
  out: (line: string) => void,
): Promise<number> {
  const k = await c.openKnowledge(loc.redisUrl, loc.prefix);
  try {
    const entries = await k.audit.list({
      ...(opts.since === undefined ? {} : { sinceMs: parseSince(opts.since, Date.now()) }),
      ...(opts.incident === undefined ? {} : { incidentId: opts.incident }),
    });
    if (opts.json) for (const e of entries) out(JSON.stringify(e));
    else if (entries.length === 0) out(`no audit entries under prefix ${loc.prefix}`);
    else for (const e of entries) out(formatAuditEntry(e));
    return EXIT_OK;
  } finally {
    await k.close();
  }
}

/** `audit verify`: walks the hash chain; exit 1 naming the first bad entry. */
export async function auditVerifyCommand(c: Composition, loc: KnowledgeLocation, out: (line: string) => void): Promise<number> {
  const k = await c.openKnowledge(loc.redisUrl, loc.prefix);
  try {
    const v = await k.audit.verify();
    if (v.ok) {
      out(`audit log OK: ${v.entries} entries, hash chain intact (prefix ${loc.prefix})`);
      return EXIT_OK;
    }
    out(`audit log BROKEN at entry #${v.firstBad.seq} (stream id ${v.firstBad.id}): ${v.firstBad.problem}`);
    return EXIT_FAILED;
  } finally {
    await k.close();
  }
}
