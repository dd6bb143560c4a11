/**
 * force_rotation on a trust domain (`mode: authority`): SPIRE's LocalAuthority X.509 rotation,
 * each step verified before the next (wire facts §6.8: prepare, verify propagation, activate).
 *
 *   PrepareX509Authority → every agent distributes the new CA (and `propagation` has passed)
 *   → ActivateX509Authority → with `taintOld: true`, TaintX509Authority on the old CA (agents
 *   rotate every SVID it signed at once).
 *
 * RevokeX509Authority is NOT done here: revoking while any SVID the old CA signed is still served
 * breaks those workloads, and that cannot be judged safely from here. The detail names the
 * command for the human step (`spire-server localauthority x509 revoke -authorityID <id>`).
 *
 * The sequence is level-based: a prepared authority is resumed, not prepared again; an active
 * authority whose CA certificate was issued after the job was decided means the rotation already
 * happened (a re-delivered job does not rotate twice).
 *
 * No Kubernetes Event is recorded: the sequence changes no Kubernetes object, and the one that would
 * fit, the Namespace of the bundle ConfigMap, is cluster-scoped. An Event about a cluster-scoped
 * object has an empty involvedObject.namespace and lives in `default` (as client-go records them),
 * and is found by the object's uid (a `get namespaces` grant spire-healer does not have);
 * recordActionEvent puts the Event in its object's own namespace, so it cannot express that. The
 * audit log records every step.
 */
import { rethrowWithContext } from '../../knowledge/errors/classified-error.js';
import type { RemediationRequest } from '../../knowledge/model/action-run.js';
import { nodeOfAgentRecord } from '../../knowledge/spire-agent-node.js';
import { agentSubject, trustDomainOf } from '../../knowledge/subject-ref.js';
import { formatDuration, isoTime } from '../../knowledge/svid-rotation.js';
import type { SpireBundle, SpireServerPort, X509AuthorityState } from '../../ports/spire.port.js';
import { bundleMarkedSimulated, type ActionContext, type Precheck } from '../action.js';
import { sleep } from '../../support/abortable-sleep.js';
import { needSpireServer, platformScopeRefusal } from './kube-events.js';
import { boolParam, durationParam } from './step-params.js';

/** CA certificates carry whole seconds and SPIRE backdates them a little: "issued after the decision" allows this much. */
const ISSUE_SLACK_MS = 30_000;

/** The bundle entry of an authority id (its CA certificate's SKID). */
function authorityCert(bundle: SpireBundle, authorityId: string): SpireBundle['x509Authorities'][number] | undefined {
  return bundle.x509Authorities.find((a) => a.certificate.subjectKeyId === authorityId);
}

/**
 * True when a rotation happened after the job was decided: there is an old authority, and the
 * active one's CA certificate was issued after the decision (within the slack). A server that just
 * started has a fresh CA but no old one.
 */
function rotatedSinceDecided(job: RemediationRequest, state: X509AuthorityState, bundle: SpireBundle): boolean {
  const active = state.active === null ? undefined : authorityCert(bundle, state.active.authorityId);
  return state.old !== null && active !== undefined && active.certificate.notBeforeMs >= job.decidedAt - ISSUE_SLACK_MS;
}

interface Live {
  readonly td: string;
  readonly server: SpireServerPort;
  readonly bundle: SpireBundle;
  readonly state: X509AuthorityState;
}

/** The trust domain, the server serving it and its live bundle and authority slots; or a skip. */
async function readLive(job: RemediationRequest, ctx: ActionContext, signal: AbortSignal): Promise<Live | { readonly skip: Precheck }> {
  const td = trustDomainOf(job.target);
  if (td === null)
    return { skip: { proceed: false, detail: `authority rotation acts on trust-domain:<td> targets; ${job.target} is not one` } };
  const refusal = platformScopeRefusal(`trust domain ${td}`, { trustDomain: td }, ctx.scope);
  if (refusal !== null) return { skip: { proceed: false, detail: refusal } };
  const server = needSpireServer(ctx, job);
  const bundle = await server.getBundle(signal);
  if (bundle.trustDomain !== td)
    return { skip: { proceed: false, detail: `the configured SPIRE server serves trust domain ${bundle.trustDomain}, not ${td}` } };
  const fleet = platformScopeRefusal(`trust domain ${td}`, { simulated: bundleMarkedSimulated(bundle) }, ctx.scope);
  if (fleet !== null) return { skip: { proceed: false, detail: fleet } };
  const state = await server.getX509AuthorityState(signal);
  return { td, server, bundle, state };
}

/** Precheck: proceeds unless the rotation already happened after the decision (or `ifExpiresWithin` says the active CA has time left). */
export async function precheckAuthority(job: RemediationRequest, ctx: ActionContext, signal: AbortSignal): Promise<Precheck> {
  const live = await readLive(job, ctx, signal);
  if ('skip' in live) return live.skip;
  const { state, bundle } = live;
  const taintOld = boolParam(job, 'taintOld', false);
  if (state.prepared !== null) {
    return {
      proceed: true,
      detail: `X.509 authority ${state.prepared.authorityId} of ${live.td} is prepared but not active: will check that every agent distributes it, then activate it`,
    };
  }
  if (rotatedSinceDecided(job, state, bundle)) {
    const old = state.old;
    if (taintOld && old !== null && authorityCert(bundle, old.authorityId)?.tainted === false) {
      return {
        proceed: true,
        detail: `X.509 authority ${state.active?.authorityId ?? '?'} was activated after this job was decided; the old authority ${old.authorityId} is not tainted yet: will taint it`,
      };
    }
    return {
      proceed: false,
      detail: `the active X.509 authority ${state.active?.authorityId ?? '?'} of ${live.td} was issued after this job was decided: already rotated`,
    };
  }
  const active = state.active;
  if (active === null)
    return { proceed: false, detail: `the SPIRE server reports no active X.509 authority for ${live.td} (initializing?)` };
  const within = job.params?.ifExpiresWithin === undefined ? null : durationParam(job, 'ifExpiresWithin', 0, 0, Number.MAX_SAFE_INTEGER);
  const left = active.expiresAtMs - ctx.clock.now();
  if (within !== null && left > within) {
    return {
      proceed: false,
      detail: `the active X.509 authority ${active.authorityId} expires at ${isoTime(active.expiresAtMs)}, more than ${formatDuration(within)} away: not rotating`,
    };
  }
  return {
    proceed: true,
    detail: `X.509 authority ${active.authorityId} of ${live.td} (expires ${isoTime(active.expiresAtMs)}) will be replaced: prepare, wait until every agent distributes the new CA, activate${taintOld ? ', taint the old one' : ''}`,
  };
}

/**
 * Waits until the new authority is in the server's bundle and in the bundle every attested agent
 * distributes (the monitor's `spire.agent.bundle` observations), and `propagation` has passed.
 * Throws (transient) after `propagationTimeout` naming the agents that lag: activating then would
 * hand out SVIDs their peers cannot verify (spire#2704).
 */
async function awaitPropagation(
  job: RemediationRequest,
  ctx: ActionContext,
  server: SpireServerPort,
  authorityId: string,
  signal: AbortSignal,
): Promise<string> {
  const minWait = durationParam(job, 'propagation', 0, 0, 86_400_000);
  const timeout = Math.max(minWait, durationParam(job, 'propagationTimeout', 300_000, 0, 86_400_000));
  const start = ctx.clock.now();
  for (;;) {
    const bundle = await server.getBundle(signal);
    const cert = authorityCert(bundle, authorityId)?.certificate;
    if (cert === undefined)
      throw new Error(`the prepared X.509 authority ${authorityId} is not in the server's bundle (sequence ${bundle.sequenceNumber})`);
    const agents = await server.listAgents({ banned: false }, signal);
    const lagging: string[] = [];
    for (const a of agents) {
      const node = nodeOfAgentRecord(a);
      const o = await ctx.store.latestObservation(agentSubject(node), 'spire.agent.bundle');
      const has = o?.data.kind === 'spire.agent.bundle' && o.data.certificates.some((c) => c.serialNumber === cert.serialHex);
      if (!has) lagging.push(node);
    }
    const waited = ctx.clock.now() - start;
    if (lagging.length === 0 && waited >= minWait) {
      return `every agent (${agents.length}) distributes it (CA serial ${cert.serialHex}, bundle sequence ${bundle.sequenceNumber})${minWait > 0 ? ` and ${formatDuration(minWait)} passed` : ''}`;
    }
    if (waited >= timeout) {
      throw new Error(
        `X.509 authority ${authorityId} has not reached ${lagging.length} of ${agents.length} agents after ${formatDuration(waited)} (${lagging.join(', ')}): not activating it yet`,
      );
    }
    await sleep(500, signal);
  }
}

/** Prepare (or resume), verify propagation, activate, and with `taintOld` taint the old authority; each step verified. */
export async function performAuthority(job: RemediationRequest, ctx: ActionContext, signal: AbortSignal): Promise<string> {
  const live = await readLive(job, ctx, signal);
  if ('skip' in live) throw new Error(live.skip.detail);
  const { server } = live;
  const readState = (): Promise<X509AuthorityState> => server.getX509AuthorityState(signal);
  let state = live.state;
  const steps: string[] = [];
  if (state.prepared === null && rotatedSinceDecided(job, state, live.bundle)) {
    steps.push(`X.509 authority ${state.active?.authorityId ?? '?'} was already activated after this job was decided`);
  } else {
    let prepared = state.prepared;
    if (prepared === null) {
      prepared = await server.prepareX509Authority(signal);
      state = await readState();
      if (state.prepared?.authorityId !== prepared.authorityId) {
        throw new Error(
          `PrepareX509Authority answered ${prepared.authorityId}, but the server reports ${state.prepared?.authorityId ?? 'nothing'} as prepared`,
        );
      }
      steps.push(`prepared X.509 authority ${prepared.authorityId} (expires ${isoTime(prepared.expiresAtMs)})`);
    } else {
      steps.push(`resumed with the prepared X.509 authority ${prepared.authorityId}`);
    }
    steps.push(await awaitPropagation(job, ctx, server, prepared.authorityId, signal));
    await server
      .activateX509Authority(prepared.authorityId, signal)
      .catch(rethrowWithContext(`ActivateX509Authority ${prepared.authorityId}`));
    state = await readState();
    if (state.active?.authorityId !== prepared.authorityId) {
      throw new Error(
        `ActivateX509Authority ${prepared.authorityId} was accepted, but the server reports ${state.active?.authorityId ?? 'nothing'} as active`,
      );
    }
    steps.push(`activated it${state.old === null ? '' : `; ${state.old.authorityId} is now the old authority`}`);
  }
  const old = state.old;
  if (boolParam(job, 'taintOld', false) && old !== null) {
    const before = authorityCert(await server.getBundle(signal), old.authorityId);
    if (before?.tainted === true) {
      steps.push(`the old authority ${old.authorityId} was already tainted`);
    } else {
      await server.taintX509Authority(old.authorityId, signal).catch(rethrowWithContext(`TaintX509Authority ${old.authorityId}`));
      const after = authorityCert(await server.getBundle(signal), old.authorityId);
      if (after?.tainted !== true)
        throw new Error(`TaintX509Authority ${old.authorityId} was accepted, but the bundle does not show it tainted`);
      steps.push(`tainted the old authority ${old.authorityId}: agents rotate every SVID it signed now`);
    }
  }
  if (old !== null) {
    steps.push(
      `revoking ${old.authorityId} is left to a person, once no SVID it signed is served any more: spire-server localauthority x509 revoke -authorityID ${old.authorityId}`,
    );
  }
  return steps.join('; ');
}
