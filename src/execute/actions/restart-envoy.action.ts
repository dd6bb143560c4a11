import { rotationStatus } from '../../knowledge/svid-rotation.js';
import type { RemediationAction } from '../action.js';

/**
 * restart_envoy: POST /quitquitquit on the workload's Envoy admin endpoint. Envoy exits cleanly
 * and the kubelet restarts only that container, which opens a new SDS stream and fetches the
 * agent's current SVID. Acts only while Envoy, read live, still serves an overdue SVID.
 */
export const restartEnvoyAction: RemediationAction = {
  name: 'restart_envoy',
  async precheck(_job, target, ctx, signal) {
    const certs = await ctx.envoy.readCerts(target.envoyAdminUrl, signal);
    const leaf = certs.chain[0];
    if (leaf === undefined) return { proceed: true, detail: `Envoy at ${target.envoyAdminUrl} serves no certificate` };
    const st = rotationStatus(leaf, ctx.clock.now(), ctx.rotation);
    if (!st.overdue) {
      return { proceed: false, detail: `Envoy for ${target.id} already serves a current SVID (serial ${leaf.serialNumber}); nothing to restart` };
    }
    return { proceed: true, detail: `Envoy for ${target.id} still serves overdue SVID serial ${leaf.serialNumber}` };
  },
  async perform(_job, target, ctx, signal) {
    await ctx.envoy.quit(target.envoyAdminUrl, signal);
    return `POST ${target.envoyAdminUrl}/quitquitquit accepted; Envoy restarts and re-fetches its SVID over SDS`;
  },
};
