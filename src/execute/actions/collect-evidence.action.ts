import { open } from 'node:fs/promises';
import { errorMessage } from '../../knowledge/error-text.js';
import { rethrowWithContext } from '../../knowledge/errors/classified-error.js';
import type { RemediationRequest } from '../../knowledge/model/action-run.js';
import type { EnvoyCertsData, EnvoyStatsData } from '../../knowledge/model/observation.js';
import type { Workload } from '../../knowledge/model/workload.js';
import { agentNodeOf } from '../../knowledge/subject-ref.js';
import { isMarkedSimulated, PermanentActionError, resolveWorkloadTarget, type ActionContext, type RemediationAction } from '../action.js';
import { numberParam, platformScopeRefusal, stringParam } from './kube-events.js';

/** How much of the evidence fits in the action run's detail (the only place execute can put it today). */
export const EVIDENCE_MAX_BYTES = 8 * 1024;
/** How much of a log file is read at most (its end). */
const FILE_TAIL_BYTES = 1024 * 1024;

/** A summary line and the collected text. */
interface Evidence {
  readonly summary: string;
  readonly text: string;
  /** Which end to keep when the text is too long: a log's newest lines are at its end. */
  readonly keep: 'head' | 'tail';
}

/** `summary`, then as much of `text` as fits in EVIDENCE_MAX_BYTES. */
export function composeEvidence(e: Evidence): string {
  const head = `${e.summary}\n--- evidence ---\n`;
  const room = EVIDENCE_MAX_BYTES - Buffer.byteLength(head);
  const bytes = Buffer.from(e.text, 'utf8');
  if (bytes.length <= room) return head + e.text;
  const marker = '[… truncated …]\n';
  const keep = Math.max(0, room - Buffer.byteLength(marker));
  const cut = e.keep === 'tail' ? bytes.subarray(bytes.length - keep) : bytes.subarray(0, keep);
  // Drop a partial UTF-8 character or line at the cut.
  const text = cut.toString('utf8').replace(/^\uFFFD+|\uFFFD+$/g, '');
  return e.keep === 'tail' ? head + marker + text.slice(text.indexOf('\n') + 1) : head + text + (text.endsWith('\n') ? '' : '\n') + marker;
}

/** The last `lines` lines of a local file (at most its last megabyte). */
async function tailFile(path: string, lines: number): Promise<string> {
  const fh = await open(path, 'r');
  try {
    const { size } = await fh.stat();
    const length = Math.min(size, FILE_TAIL_BYTES);
    const buf = Buffer.alloc(length);
    await fh.read(buf, 0, length, size - length);
    const all = buf.toString('utf8').split('\n');
    if (all.at(-1) === '') all.pop();
    return all
      .slice(-lines)
      .map((l) => `${l}\n`)
      .join('');
  } finally {
    await fh.close();
  }
}

/** Counts of SPIRE (logrus) levels and the last error message in a log. */
function summarizeLog(text: string): string {
  const lines = text.split('\n').filter((l) => l !== '');
  const errors = lines.filter((l) => /\blevel=(error|fatal|panic)\b/.test(l));
  const warnings = lines.filter((l) => /\blevel=warn(ing)?\b/.test(l)).length;
  const last = errors.at(-1);
  const msg = last === undefined ? undefined : /msg="((?:[^"\\]|\\.)*)"/.exec(last)?.[1];
  return `${lines.length} line(s), ${errors.length} error(s), ${warnings} warning(s)${msg === undefined ? '' : `; last error: "${msg}"`}`;
}

/** The log of the SPIRE agent on `node`: its pod's log through the Kubernetes API, else `params.logFile`. */
async function agentEvidence(job: RemediationRequest, ctx: ActionContext, node: string): Promise<Evidence> {
  const tailLines = numberParam(job, 'tailLines', 200, 1, 10_000);
  const logFile = stringParam(job, 'logFile');
  const kube = ctx.kubernetes ?? null;
  if (kube !== null) {
    const pod = await kube.getAgentPod(node).catch(rethrowWithContext(`reading the SPIRE agent pod of ${node}`));
    if (pod !== null) {
      const refusal = platformScopeRefusal(
        `SPIRE agent pod ${pod.namespace}/${pod.name}`,
        { namespace: pod.namespace, simulated: isMarkedSimulated(pod.labels) },
        ctx.scope,
      );
      if (refusal !== null) throw new PermanentActionError(refusal);
      const container =
        stringParam(job, 'container') ?? (pod.containers.length === 1 ? undefined : pod.containers.find((c) => c.includes('spire-agent')));
      const text = await kube
        .readPodLog(pod.namespace, pod.name, { tailLines, ...(container === undefined ? {} : { container }) })
        .catch(rethrowWithContext(`reading the log of ${pod.namespace}/${pod.name}`));
      return {
        summary: `SPIRE agent log of pod ${pod.namespace}/${pod.name} on ${node} (last ${tailLines} lines): ${summarizeLog(text)}`,
        text,
        keep: 'tail',
      };
    }
    if (logFile === undefined)
      throw new PermanentActionError(`no SPIRE agent pod on node ${node} and no logFile parameter: no log to collect`);
  }
  if (logFile === undefined)
    throw new PermanentActionError(`collect_evidence on ${job.target} needs Kubernetes (the agent pod's log) or a logFile parameter`);
  const text = await tailFile(logFile, tailLines);
  return { summary: `SPIRE agent log ${logFile} of ${node} (last ${tailLines} lines): ${summarizeLog(text)}`, text, keep: 'tail' };
}

function certsSummary(c: EnvoyCertsData, now: number): string {
  const leaf = c.chain[0];
  if (leaf === undefined) return `serves no certificate; ${c.caCerts.length} CA certificate(s)`;
  const left = Math.round((leaf.expiresAtMs - now) / 1000);
  return `serves SVID serial ${leaf.serialNumber} (${leaf.uriSans.join(' ')}), ${left >= 0 ? `expires in ${left}s` : `EXPIRED ${-left}s ago`}; ${c.caCerts.length} CA certificate(s)`;
}

function statsSummary(s: EnvoyStatsData): string {
  const sum = (f: (x: EnvoyStatsData['sds'][number]) => number): number => s.sds.reduce((n, x) => n + f(x), 0);
  const ssl = (f: (x: EnvoyStatsData['ssl'][number]) => number): number => s.ssl.reduce((n, x) => n + f(x), 0);
  return (
    `SDS updates ${sum((x) => x.updateSuccess)} ok / ${sum((x) => x.updateRejected)} rejected / ${sum((x) => x.updateFailure)} failed, ` +
    `init timeouts ${sum((x) => x.initFetchTimeout)}; TLS connection errors ${ssl((x) => x.connectionError)}, verify errors ${ssl((x) => x.failVerifyError)}; ` +
    `secrets not ready ${s.secretsNotReady}`
  );
}

/** The workload's Envoy /certs and /stats; a probe that fails is evidence too. */
async function workloadEvidence(w: Workload, ctx: ActionContext, signal: AbortSignal): Promise<Evidence> {
  const [certs, stats] = await Promise.allSettled([
    ctx.envoy.readCerts(w.envoyAdminUrl, signal),
    ctx.envoy.readStats(w.envoyAdminUrl, signal),
  ]);
  if (certs.status === 'rejected' && stats.status === 'rejected') {
    throw new Error(`Envoy admin ${w.envoyAdminUrl} of ${w.id} could not be read: ${String(certs.reason)}`);
  }
  const why = (r: PromiseRejectedResult): string => errorMessage(r.reason);
  const parts = [
    certs.status === 'fulfilled' ? `/certs: ${certsSummary(certs.value, ctx.clock.now())}` : `/certs failed: ${why(certs)}`,
    stats.status === 'fulfilled' ? `/stats: ${statsSummary(stats.value)}` : `/stats failed: ${why(stats)}`,
  ];
  const text =
    [
      `GET ${w.envoyAdminUrl}/certs`,
      certs.status === 'fulfilled' ? JSON.stringify(certs.value, null, 1) : why(certs),
      `GET ${w.envoyAdminUrl}/stats?format=json (reduced)`,
      stats.status === 'fulfilled' ? JSON.stringify(stats.value, null, 1) : why(stats),
    ].join('\n') + '\n';
  return { summary: `Envoy of ${w.id} at ${w.envoyAdminUrl}: ${parts.join('; ')}`, text, keep: 'head' };
}

/**
 * collect_evidence: reads what a person needs to diagnose the target and returns it as the run's
 * detail (summary first, then the text, at most EVIDENCE_MAX_BYTES): for `agent:<node>` the agent
 * pod's log through the Kubernetes pod log API (`params.tailLines`, default 200; `params.container`)
 * or, without Kubernetes or an agent pod, the last lines of `params.logFile`; for a workload its
 * Envoy's /certs and /stats. Read-only, so it proceeds whenever the target resolves and is in
 * scope. Uses ctx.kubernetes (agents) and ctx.envoy (workloads).
 */
export const collectEvidenceAction: RemediationAction = {
  name: 'collect_evidence',
  async precheck(job, ctx, signal) {
    const node = agentNodeOf(job.target);
    if (node !== null) {
      const pod = (await ctx.kubernetes?.getAgentPod(node).catch(rethrowWithContext(`reading the SPIRE agent pod of ${node}`))) ?? null;
      const refusal =
        pod === null
          ? null
          : platformScopeRefusal(
              `SPIRE agent pod ${pod.namespace}/${pod.name}`,
              { namespace: pod.namespace, simulated: isMarkedSimulated(pod.labels) },
              ctx.scope,
            );
      if (refusal !== null) return { proceed: false, detail: refusal };
      return {
        proceed: true,
        detail: `collecting the SPIRE agent log of ${node}${pod === null ? '' : ` from pod ${pod.namespace}/${pod.name}`}`,
      };
    }
    const resolved = await resolveWorkloadTarget(job, ctx, signal);
    if ('skip' in resolved) return resolved.skip;
    return { proceed: true, detail: `collecting Envoy /certs and /stats of ${resolved.workload.id}` };
  },
  async perform(job, ctx, signal) {
    const node = agentNodeOf(job.target);
    if (node !== null) return composeEvidence(await agentEvidence(job, ctx, node));
    const resolved = await resolveWorkloadTarget(job, ctx, signal);
    if ('skip' in resolved) throw new PermanentActionError(resolved.skip.detail);
    return composeEvidence(await workloadEvidence(resolved.workload, ctx, signal));
  },
};
