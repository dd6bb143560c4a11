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
  let cert: X509Certificate;
  let ext: x509.X509Certificate;
  try {
    cert = new X509Certificate(der);
    ext = new x509.X509Certificate(der);
  } catch (e) {
    throw new Error(`not an X.509 certificate: ${errorMessage(e)}`, { cause: e });
  }
  const skid = ext.getExtension(x509.SubjectKeyIdentifierExtension);
  return {
    serialHex: normalizeSerial(cert.serialNumber),
    sha256: cert.fingerprint256.replaceAll(':', '').toLowerCase(),
    subject: cert.subject.replaceAll('\n', ', '),
    issuer: cert.issuer.replaceAll('\n', ', '),
    uriSans: (ext.getExtension(x509.SubjectAlternativeNameExtension)?.names.items ?? [])
      .filter((n) => n.type === 'url')
      .map((n) => n.value),
    notBeforeMs: Date.parse(cert.validFrom),
    notAfterMs: Date.parse(cert.validTo),
    isCa: cert.ca,
    ...(skid === null ? {} : { subjectKeyId: skid.keyId.toLowerCase() }),
    der: new Uint8Array(der),
  };
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
