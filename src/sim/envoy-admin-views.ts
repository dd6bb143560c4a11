/**
 * Pure renderers of a simulated Envoy's admin endpoints, in Envoy's wire shapes
 * (envoy.admin.v3.Certificates, text /stats, /ready, envoy.admin.v3.ServerInfo).
 */
import type { MintedCert } from './certs.js';
import type { EnvoySnapshot } from './envoy-sim.js';
import type { SimWorkload } from './world.js';
import { SIMULATED_LABELS } from './world-model.js';

/** Everything a renderer needs about one Envoy. */
export interface EnvoyAdminView {
  readonly workload: SimWorkload;
  readonly envoy: EnvoySnapshot;
  readonly now: number;
}

/** An HTTP answer from a renderer. */
export interface AdminResponse {
  readonly status: number;
  readonly contentType: string;
  readonly body: string;
}

/** The inbound listener's stat prefix (Istio-style 0.0.0.0:15001 with ':' → '_'). */
export const INBOUND_LISTENER = '0.0.0.0_15001';
/** The upstream cluster whose TLS context also carries the SVID. */
export const OUTBOUND_CLUSTER = 'outbound_peer';
const ENVOY_VERSION = 'spire-healer-sim/1.31.0/Clean/RELEASE/BoringSSL';
const DAY_MS = 86_400_000;

/** RFC3339 without fractional seconds, as protobuf JSON prints whole-second Timestamps. */
export function rfc3339(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/**
 * One CertificateDetails. `days_until_expiration` is floored and, like Envoy's
 * getDaysUntilExpiration, absent once the certificate has expired.
 */
function certificateDetails(cert: MintedCert, path: string, now: number): Record<string, unknown> {
  const remaining = cert.notAfterMs - now;
  return {
    path,
    serial_number: cert.serialHex,
    subject_alt_names: cert.uriSans.map((uri) => ({ uri })),
    ...(remaining >= 0 ? { days_until_expiration: String(Math.floor(remaining / DAY_MS)) } : {}),
    valid_from: rfc3339(cert.notBeforeMs),
    expiration_time: rfc3339(cert.notAfterMs),
  };
}

/**
 * GET /certs: one entry per TLS context (the inbound listener and one upstream cluster), so the
 * SVID appears twice as on a real sidecar. SDS-delivered certs have path "<inline>"; the CA path
 * is prefixed with the trust domain as the SPIFFE validator does. '<' and '>' are escaped as
 * protobuf's JSON printer does.
 */
export function renderCerts(v: EnvoyAdminView): AdminResponse {
  const served = v.envoy.served;
  const context = {
    ca_cert: v.envoy.caCerts.map((ca) => certificateDetails(ca, `${v.workload.trustDomain}: <inline>`, v.now)),
    // A listener whose SDS secret never arrived has no chain (Envoy prints an empty list).
    cert_chain: served === null ? [] : [certificateDetails(served, '<inline>', v.now)],
  };
  const json = JSON.stringify({ certificates: [context, context] }, null, 1)
    .replace(/</g, '\\u003c')
    .replace(/>/g, '\\u003e');
  return { status: 200, contentType: 'application/json', body: `${json}\n` };
}

/** Envoy's stat scope for an SDS secret: "sds." + name with ':' replaced by '_'. */
export function sdsStatPrefix(secretName: string): string {
  return `sds.${secretName.replace(/:/g, '_')}`;
}

/** All stats as name → value, Envoy names. */
export function collectStats(v: EnvoyAdminView): Map<string, number> {
  const e = v.envoy;
  const stats = new Map<string, number>();
  const svid = sdsStatPrefix(v.workload.spiffeId);
  const bundle = sdsStatPrefix(`spiffe://${v.workload.trustDomain}`);
  for (const [prefix, s] of [
    [svid, e.sds],
    [bundle, { updateAttempt: 1, updateSuccess: 1, updateRejected: 0, updateFailure: 0, initFetchTimeout: 0, updateTimeMs: e.liveSince }],
  ] as const) {
    stats.set(`${prefix}.init_fetch_timeout`, s.initFetchTimeout);
    stats.set(`${prefix}.update_attempt`, s.updateAttempt);
    stats.set(`${prefix}.update_failure`, s.updateFailure);
    stats.set(`${prefix}.update_rejected`, s.updateRejected);
    stats.set(`${prefix}.update_success`, s.updateSuccess);
    stats.set(`${prefix}.update_time`, s.updateTimeMs);
  }
  stats.set(`listener.${INBOUND_LISTENER}.ssl.handshake`, e.ssl.handshake);
  stats.set(`listener.${INBOUND_LISTENER}.ssl.connection_error`, e.ssl.connectionError);
  stats.set(`listener.${INBOUND_LISTENER}.ssl.fail_verify_error`, e.ssl.failVerifyError);
  stats.set(`listener.${INBOUND_LISTENER}.downstream_context_secrets_not_ready`, e.ssl.secretsNotReady);
  stats.set(`listener.${INBOUND_LISTENER}.server_ssl_socket_factory.ssl_context_update_by_sds`, e.sds.updateSuccess);
  stats.set(`cluster.${OUTBOUND_CLUSTER}.ssl.handshake`, e.handshakes);
  stats.set(`cluster.${OUTBOUND_CLUSTER}.client_ssl_socket_factory.ssl_context_update_by_sds`, e.sds.updateSuccess);
  stats.set('cluster.spire_agent.upstream_cx_active', e.sdsStuck ? 0 : 1);
  const firstExpiry = Math.min(e.served?.notAfterMs ?? Infinity, ...e.caCerts.map((c) => c.notAfterMs));
  if (Number.isFinite(firstExpiry))
    stats.set('server.days_until_first_cert_expiring', Math.max(0, Math.floor((firstExpiry - v.now) / DAY_MS)));
  stats.set('server.live', e.state === 'live' ? 1 : 0);
  // server.state gauge: 0 LIVE, 1 DRAINING, 2 PRE_INITIALIZING, 3 INITIALIZING.
  stats.set('server.state', e.state === 'live' ? 0 : 2);
  stats.set('server.uptime', Math.floor((v.now - e.liveSince) / 1_000));
  return stats;
}

/**
 * GET /stats: text "name: value" lines sorted by name, or `format=json`
 * ({"stats":[{name,value}]}). `filter` is a regular expression on the name (Envoy uses RE2);
 * an invalid one is a 400.
 */
export function renderStats(v: EnvoyAdminView, query: URLSearchParams): AdminResponse {
  let entries = [...collectStats(v)].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const filter = query.get('filter');
  if (filter !== null) {
    let re: RegExp;
    try {
      re = new RegExp(filter);
    } catch {
      return { status: 400, contentType: 'text/plain', body: `Invalid re2 regex\n` };
    }
    entries = entries.filter(([name]) => re.test(name));
  }
  if (query.get('format') === 'json') {
    return {
      status: 200,
      contentType: 'application/json',
      body: JSON.stringify({ stats: entries.map(([name, value]) => ({ name, value })) }),
    };
  }
  return { status: 200, contentType: 'text/plain', body: entries.map(([name, value]) => `${name}: ${value}\n`).join('') };
}

/** GET /ready: 200 "LIVE\n" when live, else 503 with the state name. */
export function renderReady(v: EnvoyAdminView): AdminResponse {
  return v.envoy.state === 'live'
    ? { status: 200, contentType: 'text/plain', body: 'LIVE\n' }
    : { status: 503, contentType: 'text/plain', body: 'PRE_INITIALIZING\n' };
}

/**
 * GET /server_info: envoy.admin.v3.ServerInfo with state and whole-second uptimes ("6s"). The
 * node's metadata (set from the bootstrap in a real Envoy) carries the simulated fleet's marker.
 */
export function renderServerInfo(v: EnvoyAdminView): AdminResponse {
  const e = v.envoy;
  const info = {
    version: ENVOY_VERSION,
    state: e.state === 'live' ? 'LIVE' : 'PRE_INITIALIZING',
    hot_restart_version: 'disabled',
    command_line_options: { base_id: '0', concurrency: 2, config_path: '/etc/envoy/envoy.yaml', mode: 'Serve' },
    node: {
      id: v.workload.id,
      cluster: v.workload.location,
      metadata: { ...SIMULATED_LABELS },
      user_agent_name: 'envoy',
      user_agent_build_version: { version: { major_number: 1, minor_number: 31 } },
    },
    uptime_current_epoch: `${Math.floor((v.now - e.liveSince) / 1_000)}s`,
    uptime_all_epochs: `${Math.floor((v.now - e.firstStartedAt) / 1_000)}s`,
  };
  return { status: 200, contentType: 'application/json', body: `${JSON.stringify(info, null, 1)}\n` };
}
