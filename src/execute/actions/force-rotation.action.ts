import type { RemediationRequest } from '../../knowledge/model/action-run.js';
import { agentNodeSelector } from '../../knowledge/spire-agent-node.js';
import { agentNodeOf, trustDomainOf } from '../../knowledge/subject-ref.js';
import {
  agentRecordMarkedSimulated,
  bundleMarkedSimulated,
  isMarkedSimulated,
  judgesFleet,
  PermanentActionError,
  resolveWorkloadTarget,
  type ActionContext,
  type Precheck,
  type RemediationAction,
} from '../action.js';
import { precheckAuthority, performAuthority } from './force-rotation-authority.js';
import { performEviction, precheckEviction } from './force-rotation-agent.js';
import { platformScopeRefusal } from './kube-events.js';
import { describeHook, HookStartError, runHook } from './run-hook.js';
import { durationParam, stringListParam, textParam } from './step-params.js';

/** How a force_rotation job rotates. */
type Mode = 'evict' | 'authority' | 'hook';

/** `hook` set → the operator's command; `mode: authority` or a trust-domain target → LocalAuthority; else agent eviction. */
function modeOf(job: RemediationRequest): Mode {
  if (job.params?.hook !== undefined) return 'hook';
  const mode = textParam(job, 'mode');
  if (mode === 'authority' || (mode === undefined && trustDomainOf(job.target) !== null)) return 'authority';
  if (mode !== undefined && mode !== 'agent')
    throw new PermanentActionError(`force_rotation: parameter mode must be "agent" or "authority", got ${JSON.stringify(mode)}`);
  return 'evict';
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** The hook's argv and environment: the `env` allowlist taken from this process, plus SPIRE_HEALER_TARGET/INCIDENT/JOB. */
function hookRequest(job: RemediationRequest): { argv: readonly string[]; env: Record<string, string> } {
  const argv = stringListParam(job, 'hook') ?? [];
  if (argv.length === 0 || argv[0] === '')
    throw new PermanentActionError('force_rotation: parameter hook must be a non-empty argv list, e.g. [/usr/local/bin/rotate, --node, x]');
  const env: Record<string, string> = {};
  for (const name of stringListParam(job, 'env') ?? []) {
    if (!ENV_NAME.test(name)) throw new PermanentActionError(`force_rotation: env entry ${JSON.stringify(name)} is not a variable name`);
    const v = process.env[name];
    if (v !== undefined) env[name] = v;
  }
  Object.assign(env, { SPIRE_HEALER_TARGET: job.target, SPIRE_HEALER_INCIDENT: job.incidentId, SPIRE_HEALER_JOB: job.id });
  return { argv, env };
}

/**
 * Whether a hook's trust-domain or agent target carries the simulated fleet's marker, read live
 * where a port can: the SPIRE server's bundle for its own trust domain; the agent's pod (Kubernetes)
 * or else its record at the SPIRE server. Unreadable counts as unmarked: a simulation refuses it.
 * Only read when the scope judges the fleet (undefined otherwise).
 */
async function hookTargetMarked(job: RemediationRequest, ctx: ActionContext, signal: AbortSignal): Promise<boolean | undefined> {
  if (!judgesFleet(ctx.scope)) return undefined;
  const server = ctx.spireServer ?? null;
  const td = trustDomainOf(job.target);
  if (td !== null) {
    if (server === null) return false;
    const bundle = await server.getBundle(signal);
    return bundle.trustDomain === td && bundleMarkedSimulated(bundle);
  }
  const node = agentNodeOf(job.target);
  if (node === null) return false;
  const pod = (await ctx.kubernetes?.getAgentPod(node)) ?? null;
  if (pod !== null) return isMarkedSimulated(pod.labels);
  if (server === null) return false;
  const rec = (await server.listAgents(undefined, signal)).find((a) => a.selectors.some((s) => s.value === agentNodeSelector(node)));
  return rec !== undefined && agentRecordMarkedSimulated(rec);
}

/**
 * Scope check of a hook's target: a workload by its own scope, a trust domain by the trust-domain list; both by the simulated
 * fleet's marker.
 */
async function precheckHook(job: RemediationRequest, ctx: ActionContext, signal: AbortSignal): Promise<Precheck> {
  const { argv } = hookRequest(job);
  durationParam(job, 'timeout', 60_000, 100, 3_600_000);
  const td = trustDomainOf(job.target);
  if (td !== null || agentNodeOf(job.target) !== null) {
    const refusal = platformScopeRefusal(job.target, td === null ? {} : { trustDomain: td }, ctx.scope);
    if (refusal !== null) return { proceed: false, detail: refusal };
    const simulated = await hookTargetMarked(job, ctx, signal);
    const fleet = simulated === undefined ? null : platformScopeRefusal(job.target, { simulated }, ctx.scope);
    if (fleet !== null) return { proceed: false, detail: fleet };
  } else {
    const r = await resolveWorkloadTarget(job, ctx, signal);
    if ('skip' in r) return r.skip;
  }
  return { proceed: true, detail: `will run the rotation hook ${JSON.stringify(argv)} for ${job.target}` };
}

/** Runs the hook; a non-zero exit, a timeout or an abort is an error (retried), a program that cannot start is permanent. */
async function performHook(job: RemediationRequest, signal: AbortSignal): Promise<string> {
  const { argv, env } = hookRequest(job);
  const timeoutMs = durationParam(job, 'timeout', 60_000, 100, 3_600_000);
  const result = await runHook({ argv, env, timeoutMs, signal }).catch((e: unknown) => {
    if (e instanceof HookStartError) throw new PermanentActionError(e.message, { cause: e });
    throw e;
  });
  const words = describeHook(argv, result);
  if (result.exitCode !== 0 || result.timedOut || result.aborted) throw new Error(words);
  return words;
}

/**
 * force_rotation: makes SPIRE issue fresh credentials, three ways by params.
 *  - Agent eviction (default; targets `agent:<node>` or a workload, whose node's agent is meant):
 *    DeleteAgent, never BanAgent, only for an agent that can re-attest, is not banned and is
 *    behind now: its own SVID expired, its last sync older than `maxSyncAge` (default 30s), or it
 *    still holds an overdue workload SVID (Delegated Identity). Params: agentId, adminEndpoint,
 *    maxSyncAge, waitReattest (default 10s; 0 = do not wait). Needs ctx.spireServer; uses
 *    AgentProbePorts.agentDebug (and ctx.kubernetes for the admin socket) when present.
 *  - `mode: authority` (target `trust-domain:<td>`): LocalAuthority prepare → propagation →
 *    activate (→ taint with `taintOld: true`); revoke is left to a person. Params: propagation,
 *    propagationTimeout (default 5m), taintOld, ifExpiresWithin. Needs ctx.spireServer.
 *  - `hook: [argv…]`: runs that command without a shell; env only from the `env` allowlist plus
 *    SPIRE_HEALER_TARGET / SPIRE_HEALER_INCIDENT / SPIRE_HEALER_JOB; `timeout` (default 60s) kills
 *    it; its output (first 4 KiB per stream) is the evidence in the detail; non-zero exit fails.
 */
export const forceRotationAction: RemediationAction = {
  name: 'force_rotation',
  async precheck(job, ctx, signal) {
    switch (modeOf(job)) {
      case 'hook':
        return precheckHook(job, ctx, signal);
      case 'authority':
        return precheckAuthority(job, ctx, signal);
      case 'evict':
        return precheckEviction(job, ctx, signal);
    }
  },
  async perform(job, ctx, signal) {
    switch (modeOf(job)) {
      case 'hook':
        return performHook(job, signal);
      case 'authority':
        return performAuthority(job, ctx, signal);
      case 'evict':
        return performEviction(job, ctx, signal);
    }
  },
};
