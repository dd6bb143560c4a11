import type { EnvoyCertsData } from '../knowledge/model/observation.js';

/** Raised by adapters: the admin endpoint could not be read or returned something unusable. */
export interface EnvoyAdminPort {
  /**
   * GET {adminUrl}/certs, parsed and normalised. Rejects with an Error whose message names the
   * endpoint and what was wrong (unreachable, HTTP status, malformed JSON, wrong field types).
   */
  readCerts(adminUrl: string, signal?: AbortSignal): Promise<EnvoyCertsData>;
  /** POST {adminUrl}/quitquitquit. Resolves when Envoy accepted the request. */
  quit(adminUrl: string, signal?: AbortSignal): Promise<void>;
}
