import type { EnvoyStatsData, SdsSecretStats, SslScopeStats } from '../../knowledge/model/observation.js';

const SDS_COUNTERS: Record<string, keyof Omit<SdsSecretStats, 'secret'>> = {
  update_success: 'updateSuccess',
  update_rejected: 'updateRejected',
  update_failure: 'updateFailure',
  init_fetch_timeout: 'initFetchTimeout',
  key_rotation_failed: 'keyRotationFailed',
  update_time: 'updateTimeMs',
};

const SSL_COUNTERS: Record<string, keyof Omit<SslScopeStats, 'scope'>> = {
  handshake: 'handshake',
  connection_error: 'connectionError',
  fail_verify_error: 'failVerifyError',
  fail_verify_san: 'failVerifySan',
  no_certificate: 'noCertificate',
};

/**
 * Pure: reduces Envoy stats (name → numeric value) to the mTLS-relevant counters. SDS scopes are
 * matched by the "sds." prefix and a known suffix (secret names contain dots, so the secret is
 * everything in between); TLS scopes by ".ssl.<counter>" under "listener." or "cluster.".
 */
export function reduceEnvoyStats(stats: Iterable<readonly [string, number]>): EnvoyStatsData {
  const sds = new Map<string, { -readonly [K in keyof SdsSecretStats]: SdsSecretStats[K] }>();
  const ssl = new Map<string, { -readonly [K in keyof SslScopeStats]: SslScopeStats[K] }>();
  let secretsNotReady = 0;
  let serverState: number | null = null;
  for (const [name, value] of stats) {
    if (name.startsWith('sds.')) {
      const dot = name.lastIndexOf('.');
      const field = SDS_COUNTERS[name.slice(dot + 1)];
      if (field === undefined || dot <= 4) continue;
      const secret = name.slice(4, dot);
      const entry = sds.get(secret) ?? {
        secret,
        updateSuccess: 0,
        updateRejected: 0,
        updateFailure: 0,
        initFetchTimeout: 0,
        keyRotationFailed: 0,
        updateTimeMs: 0,
      };
      entry[field] = value;
      sds.set(secret, entry);
    } else if (name.endsWith('_context_secrets_not_ready')) {
      secretsNotReady += value;
    } else if (name === 'server.state') {
      serverState = value;
    } else if (name.startsWith('listener.') || name.startsWith('cluster.')) {
      const at = name.lastIndexOf('.ssl.');
      if (at < 0) continue;
      const field = SSL_COUNTERS[name.slice(at + 5)];
      if (field === undefined) continue;
      const scope = name.slice(0, at);
      const entry = ssl.get(scope) ?? { scope, handshake: 0, connectionError: 0, failVerifyError: 0, failVerifySan: 0, noCertificate: 0 };
      entry[field] = value;
      ssl.set(scope, entry);
    }
  }
  return { kind: 'envoy.stats', sds: [...sds.values()], ssl: [...ssl.values()], secretsNotReady, serverState };
}
