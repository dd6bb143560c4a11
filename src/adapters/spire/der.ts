/**
 * DER helpers for SPIFFE payloads: chains and bundles arrive as concatenated DER certificates with
 * no separator, and node:crypto's X509Certificate parses exactly one, so the buffer is split by
 * the outer ASN.1 SEQUENCE length first. node:crypto reads the certificate; @peculiar/x509 reads
 * the extensions node:crypto does not expose (SKID) or only renders as text (URI SANs).
 */
// @peculiar/x509 needs reflect-metadata loaded first.
import 'reflect-metadata';
import { X509Certificate } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { errorMessage } from '../../knowledge/error-text.js';
import { normalizeSerial } from '../../knowledge/serial-number.js';
import type { SpireCertificate } from '../../ports/spire.port.js';

/** Splits concatenated DER objects by their outer SEQUENCE (0x30) header. Throws on anything else or on truncation. */
export function splitConcatenatedDer(buf: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  let off = 0;
  while (off < buf.length) {
    const tag = buf[off] ?? 0;
    if (tag !== 0x30) throw new Error(`DER at byte ${off}: expected SEQUENCE (0x30), got 0x${tag.toString(16).padStart(2, '0')}`);
    const first = buf[off + 1];
    if (first === undefined) throw new Error(`DER at byte ${off}: truncated length`);
    let header = 2;
    let length = first;
    if (first >= 0x80) {
      const n = first & 0x7f;
      if (n === 0 || n > 4) throw new Error(`DER at byte ${off}: unsupported length form 0x${first.toString(16)}`);
      if (off + 2 + n > buf.length) throw new Error(`DER at byte ${off}: truncated length`);
      length = 0;
      for (let i = 0; i < n; i += 1) length = length * 256 + (buf[off + 2 + i] ?? 0);
      header = 2 + n;
    }
    const end = off + header + length;
    if (end > buf.length)
      throw new Error(`DER at byte ${off}: object of ${length} bytes runs past the end (${buf.length - off - header} left)`);
    out.push(buf.subarray(off, end));
    off = end;
  }
  return out;
}

/** Parses one DER certificate into the port's shape. Throws with the parser's reason. */
export function parseDerCertificate(der: Uint8Array): SpireCertificate {
  const key = Buffer.from(der.buffer, der.byteOffset, der.byteLength).toString('base64');
  const hit = parsed.get(key);
  if (hit !== undefined) return { ...hit, der: new Uint8Array(der) };
  const out = parseUncached(der);
  if (parsed.size >= PARSED_CACHE_SIZE) {
    const oldest = parsed.keys().next().value;
    if (oldest !== undefined) parsed.delete(oldest);
  }
  parsed.set(key, out);
  return out;
}

/**
 * Certificates parsed lately, by DER: every Delegated Identity message re-sends every SVID it covers,
 * so most of what a stream receives was parsed before. Bounded (oldest dropped first).
 */
const parsed = new Map<string, SpireCertificate>();
const PARSED_CACHE_SIZE = 4_096;

/**
 * Node's native parser reads everything but the subject key identifier, which only CA certificates
 * need (authorities are matched by it): @peculiar/x509 (pure JS, about 1 ms a certificate) reads it
 * for those only.
 */
function parseUncached(der: Uint8Array): SpireCertificate {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(der);
  } catch (e) {
    throw new Error(`not an X.509 certificate: ${errorMessage(e)}`, { cause: e });
  }
  let skid: string | null = null;
  if (cert.ca) {
    try {
      skid = new x509.X509Certificate(der).getExtension(x509.SubjectKeyIdentifierExtension)?.keyId.toLowerCase() ?? null;
    } catch (e) {
      throw new Error(`not an X.509 certificate: ${errorMessage(e)}`, { cause: e });
    }
  }
  return {
    serialHex: normalizeSerial(cert.serialNumber),
    sha256: cert.fingerprint256.replaceAll(':', '').toLowerCase(),
    subject: cert.subject.replaceAll('\n', ', '),
    issuer: cert.issuer.replaceAll('\n', ', '),
    uriSans: uriSansOf(cert.subjectAltName),
    notBeforeMs: Date.parse(cert.validFrom),
    notAfterMs: Date.parse(cert.validTo),
    isCa: cert.ca,
    ...(skid === null ? {} : { subjectKeyId: skid }),
    der: new Uint8Array(der),
  };
}

/** The URI entries of Node's subjectAltName text ("URI:spiffe://…, DNS:…"; a value with special characters is JSON-quoted). */
function uriSansOf(san: string | undefined): string[] {
  if (san === undefined) return [];
  const out: string[] = [];
  for (const m of san.matchAll(/(?:^|, )([A-Za-z][A-Za-z ]*):("(?:[^"\\]|\\.)*"|[^,]*)/g)) {
    if (m[1] !== 'URI') continue;
    const v = m[2] ?? '';
    out.push(v.startsWith('"') ? (JSON.parse(v) as string) : v);
  }
  return out;
}

/**
 * The Subject Key Identifier extension (2.5.29.14) of a DER certificate, lowercase hex: SPIRE's
 * X.509 authority_id. Null when the certificate has none or cannot be parsed.
 */
export function subjectKeyIdOf(der: Uint8Array): string | null {
  try {
    return new x509.X509Certificate(der).getExtension(x509.SubjectKeyIdentifierExtension)?.keyId.toLowerCase() ?? null;
  } catch {
    return null;
  }
}

/** Splits and parses concatenated DER certificates; `what` names the field in error messages. */
export function parseConcatenatedCertificates(buf: Uint8Array, what: string): SpireCertificate[] {
  try {
    return splitConcatenatedDer(buf).map(parseDerCertificate);
  } catch (e) {
    throw new Error(`${what}: ${errorMessage(e)}`, { cause: e });
  }
}

/** Parses a list of single DER certificates (e.g. cert_chain, one DER per element). */
export function parseCertificateList(items: readonly Uint8Array[], what: string): SpireCertificate[] {
  return items.map((der, i) => {
    try {
      return parseDerCertificate(der);
    } catch (e) {
      throw new Error(`${what}[${i}]: ${errorMessage(e)}`, { cause: e });
    }
  });
}

/** Concatenates DER certificates the way SPIRE does (no separator). */
export function concatDer(items: readonly Uint8Array[]): Buffer {
  return Buffer.concat(items.map((d) => Buffer.from(d.buffer, d.byteOffset, d.byteLength)));
}
