import type { EnvoyCertsData, EnvoyStatsData } from '../knowledge/model/observation.js';

/** GET /server_info, reduced: Envoy's state, how long this epoch has been up, and its node's metadata. */
export interface EnvoyServerInfo {
  readonly state: 'LIVE' | 'DRAINING' | 'PRE_INITIALIZING' | 'INITIALIZING';
  readonly uptimeSeconds: number;
  readonly version: string;
  /**
   * node.metadata (set from the bootstrap): its string values only (other JSON values are left
   * out); empty when the payload has no node or no metadata.
   */
  readonly nodeMetadata: Readonly<Record<string, string>>;
}

/**
 * Envoy's admin API. Every method rejects with an Error whose message names the endpoint URL
 * and what was wrong (unreachable, timeout, HTTP status, malformed payload, wrong field types).
 */
export interface EnvoyAdminPort {
  /** GET {adminUrl}/certs, parsed and normalised. */
  readCerts(adminUrl: string, signal?: AbortSignal): Promise<EnvoyCertsData>;
  /** GET {adminUrl}/stats?format=json, reduced to SDS and TLS counters. */
  readStats(adminUrl: string, signal?: AbortSignal): Promise<EnvoyStatsData>;
  /** GET {adminUrl}/ready: true on 200 LIVE, false on 503 (any other failure rejects). */
  readReady(adminUrl: string, signal?: AbortSignal): Promise<boolean>;
  /** GET {adminUrl}/server_info. */
  readServerInfo(adminUrl: string, signal?: AbortSignal): Promise<EnvoyServerInfo>;
  /** POST {adminUrl}/quitquitquit. Resolves when Envoy accepted the request. */
  quit(adminUrl: string, signal?: AbortSignal): Promise<void>;
}
