import type { IncidentCause, IncidentType } from '../../../src/knowledge/model/incident.js';

/** The causes each incident type may carry (the vocabulary's grouping in incident.ts). */
export const CAUSES_OF: Record<IncidentType, readonly IncidentCause[]> = {
  rotation_failed: ['envoy_sds_stuck', 'envoy_update_rejected', 'agent_not_rotating'],
  agent_disconnected: [
    'agent_unreachable',
    'agent_sync_stale',
    'agent_svid_expired',
    'agent_cannot_reattest',
    'agent_not_ready',
    'agent_sds_failing',
  ],
  trust_bundle_drift: [
    'configmap_bundle_stale',
    'secret_bundle_stale',
    'agent_bundle_stale',
    'envoy_bundle_stale',
    'trust_domain_bundle_stale',
  ],
  mtls_errors: ['no_certificate', 'handshake_failures'],
  cloudrun_revision_not_ready: ['revision_not_ready'],
  flapping: ['symptom_flapping'],
  fleet_storm: ['server_unreachable', 'widespread_failure'],
};

/** True when `cause` is set and belongs to `type`. */
export const causeFits = (type: IncidentType, cause: IncidentCause | undefined): boolean =>
  cause !== undefined && CAUSES_OF[type].includes(cause);
