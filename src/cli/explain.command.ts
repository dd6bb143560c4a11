import type { Incident } from '../knowledge/model/incident.js';
import { describeObservation } from '../monitor/describe-observation.js';
import type { KnowledgeLocation } from './audit.command.js';
import type { Composition } from './composition.js';
import { CliError, EXIT_OK } from './exit-codes.js';

const iso = (ms: number | null): string => (ms === null ? '-' : new Date(ms).toISOString());

/**
 * `explain INCIDENT`: what was found, on which evidence, what it explains, what the plan did.
 * INCIDENT is an incident id, or a unique prefix of one, or "<type> <subject>" of the latest
 * incident on that subject.
 */
export async function explainCommand(
  c: Composition,
  loc: KnowledgeLocation,
  ref: string,
  opts: { readonly json: boolean },
  out: (line: string) => void,
): Promise<number> {
  const k = await c.openKnowledge(loc.redisUrl, loc.prefix);
  try {
    const all = await k.store.listIncidents();
    const incident = findIncident(all, ref, loc.prefix);
    const remediation = await k.store.getRemediation(incident.id);
    const runs = await k.store.listActionRuns(incident.id);
    if (opts.json) {
      out(JSON.stringify({ incident, remediation, actions: runs }, null, 2));
      return EXIT_OK;
    }
    out(incident.id);
    out(
      `  ${incident.type} on ${incident.subject}: ${incident.status.toUpperCase()}, opened ${iso(incident.openedAt)}, resolved ${iso(incident.resolvedAt)}`,
    );
    out('');
    out(`  ${incident.explanation}`);
    if (incident.parent !== undefined) out(`\n  part of: ${incident.parent}`);
    if (incident.affects !== undefined && incident.affects.length > 0) out(`\n  explains the symptoms of: ${incident.affects.join(', ')}`);
    out('\n  evidence:');
    for (const o of incident.evidence) out(`    ${iso(o.observedAt)}  ${o.source} on ${o.subject}: ${describeObservation(o)}`);
    out('\n  history:');
    for (const h of incident.history) out(`    ${iso(h.at)}  ${h.from} → ${h.to}: ${h.reason}`);
    if (remediation !== null)
      out(
        `\n  remediation: ${remediation.phase} (playbook ${remediation.playbook}, step ${remediation.step}${remediation.action === null ? '' : `, ${remediation.action}`}): ${remediation.reason}`,
      );
    if (remediation?.expiresWhileHeldAt !== undefined)
      out(`  held past expiry: the certificate expires at ${iso(remediation.expiresWhileHeldAt)} while held (escalated to a person)`);
    for (const r of runs) out(`    ${r.action} on ${r.target}: ${r.state}${r.performed ? '' : ' (not performed)'} — ${r.detail}`);
    return EXIT_OK;
  } finally {
    await k.close();
  }
}

function findIncident(all: readonly Incident[], ref: string, prefix: string): Incident {
  const exact = all.find((i) => i.id === ref);
  if (exact !== undefined) return exact;
  const [type, subject] = ref.split(/\s+/, 2);
  const bySubject = all.filter((i) => i.type === type && i.subject === subject).sort((a, b) => b.openedAt - a.openedAt);
  if (bySubject[0] !== undefined) return bySubject[0];
  const byPrefix = all.filter((i) => i.id.startsWith(ref));
  if (byPrefix.length === 1 && byPrefix[0] !== undefined) return byPrefix[0];
  if (byPrefix.length > 1)
    throw new CliError(
      `"${ref}" matches ${byPrefix.length} incidents: ${byPrefix
        .slice(0, 5)
        .map((i) => i.id)
        .join(', ')}`,
      1,
    );
  throw new CliError(
    `no incident "${ref}" under prefix ${prefix} (${all.length} incident(s) known; try: spire-healer audit --prefix ${prefix})`,
    1,
  );
}
