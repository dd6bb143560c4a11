/**
 * Real X.509 for the simulated fleet: one self-signed EC P-256 CA per trust domain and SPIFFE
 * X509-SVID leaves signed by it. Certificates carry whole-second times (X.509 cannot say more),
 * so callers get back the times actually written into the certificate.
 */
import 'reflect-metadata';
import { X509Certificate as NodeX509Certificate, randomBytes, webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { normalizeSerial } from '../knowledge/serial-number.js';
import { SIMULATED_CA_RDN } from '../knowledge/simulated-marker.js';

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;

x509.cryptoProvider.set(webcrypto);

const EC_P256 = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGNING = { name: 'ECDSA', hash: 'SHA-256' } as const;
const CA_VALIDITY_MS = 365 * 86_400_000;
/** The subject RDN that marks a CA of the simulated fleet (knowledge/simulated-marker.ts). */
export { SIMULATED_CA_RDN };
/** Encoded public keys per leaf key, so re-signing a rotated SVID skips re-encoding the key. */
const encodedPublicKeys = new WeakMap<CryptoKey, x509.PublicKey>();

/** A key pair a leaf keeps across rotations, so a rotation costs one signature, not a keygen. */
export type SvidKeyPair = CryptoKeyPair;

/** One minted certificate in every form the simulator needs. */
export interface MintedCert {
  /** DER encoding. */
  readonly der: Uint8Array;
  /** PEM encoding ("-----BEGIN CERTIFICATE-----…"). */
  readonly pem: string;
  /** Parsed by node:crypto, for callers that want to inspect it. */
  readonly x509: NodeX509Certificate;
  /** Serial number as the model spells it (knowledge/serial-number.ts), which is also what the fake Envoy's /certs reports. */
  readonly serialHex: string;
  /** URI SANs written into the certificate. */
  readonly uriSans: readonly string[];
  /** notBefore as written (whole seconds), ms since epoch. */
  readonly notBeforeMs: number;
  /** notAfter as written (whole seconds), ms since epoch. */
  readonly notAfterMs: number;
}

/** A trust domain's signing CA: its certificate plus the private key that signs SVIDs. */
export interface SimCa {
  readonly trustDomain: string;
  readonly cert: MintedCert;
  readonly keys: CryptoKeyPair;
  /** Distinguished name of the CA, used as the SVIDs' issuer. */
  readonly name: string;
}

/** What to put into an SVID. */
export interface MintSvidRequest {
  readonly ca: SimCa;
  readonly spiffeId: string;
  /** Issue time in ms; floored to a whole second for notBefore. */
  readonly issuedAtMs: number;
  readonly ttlMs: number;
  /** Reuse this leaf key pair (rotation); a new one is generated when absent. */
  readonly keys?: SvidKeyPair;
}

/** An SVID plus the key pair it certifies (pass it back in to rotate cheaply). */
export interface MintedSvid {
  readonly cert: MintedCert;
  readonly keys: SvidKeyPair;
}

/** Generates an EC P-256 key pair suitable for an SVID leaf. */
export async function generateSvidKeyPair(): Promise<SvidKeyPair> {
  return await webcrypto.subtle.generateKey(EC_P256, true, ['sign', 'verify']);
}

/** Whole-second floor: the precision an X.509 validity time can carry. */
export function floorToSecond(ms: number): number {
  return Math.floor(ms / 1_000) * 1_000;
}

/** A random 16-byte serial as hex: high bit clear (positive INTEGER), first byte non-zero (no DER padding ambiguity). */
export function randomSerialHex(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0] ?? 0) & 0x7f || 0x01;
  return bytes.toString('hex');
}

/**
 * Creates a self-signed CA for `trustDomain`: subject "C=US, O=SPIFFE, OU=spire-healer.io/simulated,
 * CN=<td> sim CA" (the OU is the simulated fleet's marker, SIMULATED_CA_RDN, as a SPIRE server's
 * configurable ca_subject would carry it), URI SAN
 * spiffe://<td>, basicConstraints CA (critical), keyUsage keyCertSign|cRLSign (critical),
 * valid from `nowMs` (floored to a second) for one year.
 */
export async function createTrustDomainCa(trustDomain: string, nowMs: number): Promise<SimCa> {
  const keys = await webcrypto.subtle.generateKey(EC_P256, true, ['sign', 'verify']);
  const notBefore = floorToSecond(nowMs);
  const name = `C=US, O=SPIFFE, ${SIMULATED_CA_RDN}, CN=${trustDomain} sim CA`;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerialHex(),
    name,
    notBefore: new Date(notBefore),
    notAfter: new Date(notBefore + CA_VALIDITY_MS),
    keys,
    signingAlgorithm: SIGNING,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      new x509.SubjectAlternativeNameExtension([{ type: 'url', value: `spiffe://${trustDomain}` }], false),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { trustDomain, cert: toMinted(cert), keys, name };
}

/**
 * Mints an X509-SVID for `spiffeId` signed by the CA: URI SAN = SPIFFE ID, basicConstraints
 * CA:false, keyUsage digitalSignature|keyEncipherment|keyAgreement, EKU serverAuth+clientAuth,
 * random serial, notBefore = issue time, notAfter = issue time + ttl (both floored to seconds).
 */
export async function mintSvid(req: MintSvidRequest): Promise<MintedSvid> {
  const keys = req.keys ?? (await generateSvidKeyPair());
  const notBefore = floorToSecond(req.issuedAtMs);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerialHex(),
    subject: 'C=US, O=SPIRE',
    issuer: req.ca.name,
    notBefore: new Date(notBefore),
    notAfter: new Date(floorToSecond(req.issuedAtMs + req.ttlMs)),
    publicKey: await encodedPublicKey(keys.publicKey),
    signingKey: req.ca.keys.privateKey,
    signingAlgorithm: SIGNING,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment | x509.KeyUsageFlags.keyAgreement,
        true,
      ),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth], false),
      new x509.SubjectAlternativeNameExtension([{ type: 'url', value: req.spiffeId }], false),
    ],
  });
  return { cert: toMinted(cert), keys };
}

async function encodedPublicKey(key: CryptoKey): Promise<x509.PublicKey> {
  const cached = encodedPublicKeys.get(key);
  if (cached !== undefined) return cached;
  const encoded = await x509.PublicKey.create(key);
  encodedPublicKeys.set(key, encoded);
  return encoded;
}

function toMinted(cert: x509.X509Certificate): MintedCert {
  const der = new Uint8Array(cert.rawData);
  const node = new NodeX509Certificate(der);
  return {
    der,
    pem: cert.toString('pem'),
    x509: node,
    serialHex: normalizeSerial(node.serialNumber),
    uriSans: uriSansOf(node),
    notBeforeMs: cert.notBefore.getTime(),
    notAfterMs: cert.notAfter.getTime(),
  };
}

/** URI SANs of a parsed certificate, from node:crypto's "URI:…, DNS:…" rendering. */
export function uriSansOf(cert: NodeX509Certificate): string[] {
  const text = cert.subjectAltName ?? '';
  return text
    .split(', ')
    .filter((part) => part.startsWith('URI:'))
    .map((part) => part.slice('URI:'.length));
}
