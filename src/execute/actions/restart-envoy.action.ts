import type { Workload } from '../../knowledge/model/workload.js';
import { rotationStatus } from '../../knowledge/svid-rotation.js';
import type { EnvoyCertsData } from '../../knowledge/model/observation.js';
import { PermanentActionError, resolveWorkloadTarget, type ActionContext, type Precheck, type RemediationAction } from '../action.js';
import { deleteWorkloadPod, newCloudRunRevision } from './restart-envoy-platform.js';
import { textParam } from './step-params.js';

/** How restart_envoy restarts: `params.method`, default quitquitquit (ignored on Cloud Run). */
const METHODS = ['quitquitquit', 'delete_pod'] as const;

const hex = (s: string): string => s.toLowerCase().replace(/[^0-9a-f]/g, '').replace(/^0+(?=.)/, '');

/** The server's CA serials: live GetBundle when the Server API is configured, else the monitor's latest read. */
async function serverCaSerials(w: Workload, ctx: ActionContext, signal: AbortSignal): Promise<{ readonly serials: string[]; readonly how: string } | null> {
  if (ctx.spireServer !== undefined && ctx.spireServer !== null) {
    const b = await ctx.spireServer.getBundle(signal);
    return { serials: b.x509Authorities.map((a) => hex(a.certificate.serialHex)).sort(), how: 'GetBundle' };
  }
  const o = await ctx.store.latestObservation(`trust-domain:${w.trustDomain}`, 'spire.server.bundle');
  if (o?.data.kind !== 'spire.bundle') return null;
  return { serials: o.data.authorities.map((a) => hex(a.serialNumber)).sort(), how: `the server bundle read at ${new Date(o.observedAt).toISOString()}` };
}

/** For a trust-bundle drift: proceed only while the Envoy, read live, validates peers with other CAs than the server's bundle. */
async function bundleVerdict(w: Workload, certs: EnvoyCertsData, ctx: ActionContext, signal: AbortSignal): Promise<Precheck> {
  const server = await serverCaSerials(w, ctx, signal);
  const have = certs.caCerts.map((c) => hex(c.serialNumber)).sort();
  if (server === null) return { proceed: false, detail: `no server bundle to compare Envoy for ${w.id} with; not restarting it blind` };
  if (have.join(',') === server.serials.join(',')) {
    return { proceed: false, detail: `Envoy for ${w.id} already validates with the server's CA serials ${have.join(', ')} (${server.how}); nothing to restart` };
  }
  return { proceed: true, detail: `Envoy for ${w.id} validates with CA serials ${have.join(', ') || '(none)'}, the server's bundle holds ${server.serials.join(', ')} (${server.how})` };
}

/**
 * restart_envoy: on Kubernetes, POST /quitquitquit on the workload's Envoy admin endpoint (Envoy
 * exits cleanly and the kubelet restarts only that container, which opens a new SDS stream and
 * fetches the agent's current SVID), or with `method: delete_pod` delete the pod so its controller
 * recreates it; on Cloud Run, a new revision. Acts only while Envoy, read live, still serves an
 * overdue SVID (or none) or, for a trust-bundle drift, validates with CAs other than the server's.
 */
export const restartEnvoyAction: RemediationAction = {
  name: 'restart_envoy',
  async precheck(job, ctx, signal) {
    const method = textParam(job, 'method') ?? 'quitquitquit';
    if (!(METHODS as readonly string[]).includes(method)) throw new PermanentActionError(`restart_envoy: params.method must be one of ${METHODS.join(', ')}, got ${method}`);
    const resolved = await resolveWorkloadTarget(job, ctx, signal);
    if ('skip' in resolved) return resolved.skip;
    const target = resolved.workload;
    const certs = await ctx.envoy.readCerts(target.envoyAdminUrl, signal);
    if ((await ctx.store.getIncident(job.incidentId))?.type === 'trust_bundle_drift') return bundleVerdict(target, certs, ctx, signal);
    const leaf = certs.chain[0];
    if (leaf === undefined) return { proceed: true, detail: `Envoy at ${target.envoyAdminUrl} serves no certificate` };
    const st = rotationStatus(leaf, ctx.clock.now(), ctx.rotation);
    if (!st.overdue) {
      return { proceed: false, detail: `Envoy for ${target.id} already serves a current SVID (serial ${leaf.serialNumber}); nothing to restart` };
    }
    return { proceed: true, detail: `Envoy for ${target.id} still serves overdue SVID serial ${leaf.serialNumber}` };
  },
  async perform(job, ctx, signal) {
    const resolved = await resolveWorkloadTarget(job, ctx, signal);
    if ('skip' in resolved) throw new Error(resolved.skip.detail);
    const target = resolved.workload;
    if (target.platform === 'cloudrun') return newCloudRunRevision(job, target, ctx, signal);
    if (textParam(job, 'method') === 'delete_pod') return deleteWorkloadPod(job, target, ctx);
    await ctx.envoy.quit(target.envoyAdminUrl, signal);
    return `POST ${target.envoyAdminUrl}/quitquitquit accepted; Envoy restarts and re-fetches its SVID over SDS`;
  },
};
