/**
 * Decoded message shapes (proto-loader with keepCase, longs as String, defaults) and their
 * normalisation into the port's plain data. Normalisers throw on content that makes no sense;
 * callers turn that into MALFORMED.
 */
import type {
  AgentDebugInfo,
  AuthoritySlot,
  DelegatedX509SvidsUpdate,
  SpireAgentRecord,
  SpireBundle,
  SpireCertificate,
  SpireSelector,
  TrustBundles,
  WorkloadX509SvidUpdate,
  X509AuthorityState,
  X509BundlesUpdate,
} from '../../ports/spire.port.js';
import { normalizeSerial } from '../../knowledge/serial-number.js';
import { parseCertificateList, parseConcatenatedCertificates, parseDerCertificate } from './der.js';
import { errorMessage } from '../../knowledge/error-text.js';

/** spire.api.types.SPIFFEID. */
export interface WireSpiffeId {
  trust_domain: string;
  path: string;
}
/** spire.api.types.Selector. */
export interface WireSelector {
  type: string;
  value: string;
}
/** SpiffeWorkloadAPI X509SVID. */
export interface WireWorkloadSvid {
  spiffe_id: string;
  x509_svid: Buffer;
  x509_svid_key: Buffer;
  bundle: Buffer;
  hint: string;
}
/** X509SVIDResponse. */
export interface WireX509SvidResponse {
  svids: WireWorkloadSvid[];
  crl: Buffer[];
  federated_bundles: Record<string, Buffer>;
}
/** X509BundlesResponse. */
export interface WireX509BundlesResponse {
  crl: Buffer[];
  bundles: Record<string, Buffer>;
}
/** spire.api.types.X509SVID. */
export interface WireTypesX509Svid {
  cert_chain: Buffer[];
  id: WireSpiffeId | null;
  expires_at: string;
  hint: string;
}
/** SubscribeToX509SVIDsResponse. */
export interface WireDelegatedSvids {
  x509_svids: { x509_svid: WireTypesX509Svid | null; x509_svid_key: Buffer }[];
  federates_with: string[];
}
/** SubscribeToX509BundlesResponse. */
export interface WireDelegatedBundles {
  ca_certificates: Record<string, Buffer>;
}
/** Debug GetInfoResponse. */
export interface WireDebugInfo {
  svid_chain: { id: WireSpiffeId | null; expires_at: string; subject: string }[];
  uptime: number;
  svids_count: number;
  last_sync_success: string;
  cached_x509_svids_count: number;
  cached_jwt_svids_count: number;
  cached_svidstore_x509_svids_count: number;
}
/** spire.api.types.Agent. */
export interface WireAgent {
  id: WireSpiffeId | null;
  attestation_type: string;
  x509svid_serial_number: string;
  x509svid_expires_at: string;
  selectors: WireSelector[];
  banned: boolean;
  can_reattest: boolean;
  agent_version: string;
}
/** ListAgentsResponse. */
export interface WireListAgentsResponse {
  agents: WireAgent[];
  next_page_token: string;
}
/** spire.api.types.Bundle. */
export interface WireBundle {
  trust_domain: string;
  x509_authorities: { asn1: Buffer; tainted: boolean }[];
  refresh_hint: string;
  sequence_number: string;
}
/** LocalAuthority AuthorityState. */
export interface WireAuthorityState {
  authority_id: string;
  expires_at: string;
  upstream_authority_subject_key_id: string;
}
/** GetX509AuthorityStateResponse. */
export interface WireAuthorityStateResponse {
  active: WireAuthorityState | null;
  prepared: WireAuthorityState | null;
  old: WireAuthorityState | null;
}

/** "spiffe://td/path" from a SPIFFEID message; throws when the trust domain is missing. */
export function spiffeIdString(id: WireSpiffeId | null, what: string): string {
  if (id === null || id.trust_domain === '') throw new Error(`${what}: missing SPIFFE ID`);
  const path = id.path === '' || id.path.startsWith('/') ? id.path : `/${id.path}`;
  return `spiffe://${id.trust_domain}${path}`;
}

/** SPIFFEID message from "spiffe://td/path"; throws for anything else. */
export function toWireSpiffeId(id: string): WireSpiffeId {
  const m = /^spiffe:\/\/([^/]+)(\/.*)?$/.exec(id);
  if (m?.[1] === undefined) throw new Error(`not a SPIFFE ID: "${id}"`);
  return { trust_domain: m[1], path: m[2] ?? '' };
}

/** int64 decimal string (Unix seconds) → ms. */
export function secondsToMs(v: string, what: string): number {
  if (!/^-?\d+$/.test(v)) throw new Error(`${what}: expected int64, got "${v}"`);
  return Number(v) * 1_000;
}

/**
 * An X509-SVID leaf carries exactly one URI SAN and it is the SVID's SPIFFE ID (X509-SVID spec
 * §2, §4.1); anything else makes the SVID unusable, so the message is reported as malformed.
 * Expiry is NOT checked here: an expired SVID is data the monitor must see.
 */
export function checkLeafId(leaf: SpireCertificate, spiffeId: string, what: string): void {
  if (leaf.uriSans.length !== 1) throw new Error(`${what}: leaf must carry exactly one URI SAN, found ${leaf.uriSans.length}`);
  const san = leaf.uriSans[0] ?? '';
  if (!san.startsWith('spiffe://')) throw new Error(`${what}: leaf URI SAN "${san}" is not a SPIFFE ID`);
  if (san !== spiffeId) throw new Error(`${what}: leaf URI SAN "${san}" does not match the SPIFFE ID "${spiffeId}"`);
}

function bundlesOf(map: Record<string, Buffer>, what: string): TrustBundles {
  const out: Record<string, ReturnType<typeof parseConcatenatedCertificates>> = {};
  for (const [td, der] of Object.entries(map)) out[td] = parseConcatenatedCertificates(der, `${what}["${td}"]`);
  return out;
}

/** FetchX509SVID message → full-state update. */
export function normaliseX509SvidResponse(m: WireX509SvidResponse, now: number): WorkloadX509SvidUpdate {
  return {
    svids: m.svids.map((s, i) => {
      if (!s.spiffe_id.startsWith('spiffe://')) throw new Error(`svids[${i}].spiffe_id: not a SPIFFE ID: "${s.spiffe_id}"`);
      const chain = parseConcatenatedCertificates(s.x509_svid, `svids[${i}].x509_svid`);
      const leaf = chain[0];
      if (leaf === undefined) throw new Error(`svids[${i}].x509_svid: empty chain`);
      checkLeafId(leaf, s.spiffe_id, `svids[${i}].x509_svid`);
      return {
        spiffeId: s.spiffe_id,
        chain,
        bundle: parseConcatenatedCertificates(s.bundle, `svids[${i}].bundle`),
        hint: s.hint,
        hasKey: s.x509_svid_key.length > 0,
      };
    }),
    federatedBundles: bundlesOf(m.federated_bundles, 'federated_bundles'),
    crlCount: m.crl.length,
    receivedAtMs: now,
  };
}

/** FetchX509Bundles message → full-state update. */
export function normaliseX509BundlesResponse(m: WireX509BundlesResponse, now: number): X509BundlesUpdate {
  return { bundles: bundlesOf(m.bundles, 'bundles'), crlCount: m.crl.length, receivedAtMs: now };
}

/** SubscribeToX509SVIDs message → full-state update. */
export function normaliseDelegatedSvids(m: WireDelegatedSvids, now: number): DelegatedX509SvidsUpdate {
  return {
    svids: m.x509_svids.map((s, i) => {
      const svid = s.x509_svid;
      if (svid === null) throw new Error(`x509_svids[${i}].x509_svid: missing`);
      const chain = parseCertificateList(svid.cert_chain, `x509_svids[${i}].x509_svid.cert_chain`);
      const leaf = chain[0];
      if (leaf === undefined) throw new Error(`x509_svids[${i}].x509_svid.cert_chain: empty`);
      const spiffeId = spiffeIdString(svid.id, `x509_svids[${i}].x509_svid.id`);
      checkLeafId(leaf, spiffeId, `x509_svids[${i}].x509_svid.cert_chain`);
      return {
        spiffeId,
        chain,
        expiresAtMs: secondsToMs(svid.expires_at, `x509_svids[${i}].x509_svid.expires_at`),
        hint: svid.hint,
        hasKey: s.x509_svid_key.length > 0,
      };
    }),
    federatesWith: [...m.federates_with],
    receivedAtMs: now,
  };
}

/** SubscribeToX509Bundles message → full-state update. */
export function normaliseDelegatedBundles(m: WireDelegatedBundles, now: number): X509BundlesUpdate {
  return { bundles: bundlesOf(m.ca_certificates, 'ca_certificates'), crlCount: 0, receivedAtMs: now };
}

/** Debug.GetInfo response → AgentDebugInfo. */
export function normaliseDebugInfo(m: WireDebugInfo): AgentDebugInfo {
  const svidChain = m.svid_chain.map((c, i) => ({
    spiffeId: spiffeIdString(c.id, `svid_chain[${i}].id`),
    expiresAtMs: secondsToMs(c.expires_at, `svid_chain[${i}].expires_at`),
    subject: c.subject,
  }));
  return {
    svidChain,
    uptimeSeconds: m.uptime,
    lastSyncSuccessMs: secondsToMs(m.last_sync_success, 'last_sync_success'),
    agentSvidExpiresAtMs: svidChain[0]?.expiresAtMs ?? null,
    cachedX509SvidsCount: m.cached_x509_svids_count,
    cachedJwtSvidsCount: m.cached_jwt_svids_count,
    cachedSvidStoreX509SvidsCount: m.cached_svidstore_x509_svids_count,
  };
}

/** types.Agent → SpireAgentRecord. */
export function normaliseAgent(a: WireAgent, what: string): SpireAgentRecord {
  return {
    spiffeId: spiffeIdString(a.id, `${what}.id`),
    attestationType: a.attestation_type,
    serialHex: normalizeSerial(a.x509svid_serial_number),
    svidExpiresAtMs: secondsToMs(a.x509svid_expires_at, `${what}.x509svid_expires_at`),
    selectors: a.selectors.map((s): SpireSelector => ({ type: s.type, value: s.value })),
    banned: a.banned,
    canReattest: a.can_reattest,
    agentVersion: a.agent_version,
  };
}

/** types.Bundle → SpireBundle. */
export function normaliseBundle(b: WireBundle): SpireBundle {
  return {
    trustDomain: b.trust_domain,
    x509Authorities: b.x509_authorities.map((a, i) => ({ certificate: authorityCertificate(a.asn1, i), tainted: a.tainted })),
    refreshHintSeconds: Number(b.refresh_hint),
    sequenceNumber: b.sequence_number,
  };
}

function authorityCertificate(asn1: Buffer, i: number): SpireCertificate {
  if (asn1.length === 0) throw new Error(`x509_authorities[${i}].asn1: empty`);
  try {
    return parseDerCertificate(asn1);
  } catch (e) {
    throw new Error(`x509_authorities[${i}].asn1: ${errorMessage(e)}`, { cause: e });
  }
}

function slot(s: WireAuthorityState | null, what: string): AuthoritySlot | null {
  if (s === null || s.authority_id === '') return null;
  return {
    authorityId: s.authority_id.toLowerCase(),
    expiresAtMs: secondsToMs(s.expires_at, `${what}.expires_at`),
    upstreamAuthoritySubjectKeyId: s.upstream_authority_subject_key_id,
  };
}

/** GetX509AuthorityState response → X509AuthorityState. */
export function normaliseAuthorityState(m: WireAuthorityStateResponse): X509AuthorityState {
  return { active: slot(m.active, 'active'), prepared: slot(m.prepared, 'prepared'), old: slot(m.old, 'old') };
}

/** A LocalAuthority write's AuthorityState (prepared_authority, activated_authority…); throws when it is missing. */
export function normaliseAuthoritySlot(s: WireAuthorityState | null, what: string): AuthoritySlot {
  const out = slot(s, what);
  if (out === null) throw new Error(`${what}: missing authority`);
  return out;
}
