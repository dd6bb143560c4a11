/**
 * DER helpers for SPIFFE payloads: chains and bundles arrive as concatenated DER certificates with
 * no separator, and node:crypto's X509Certificate parses exactly one, so the buffer is split by
 * the outer ASN.1 SEQUENCE length first.
 */
import { X509Certificate } from 'node:crypto';
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
    if (end > buf.length) throw new Error(`DER at byte ${off}: object of ${length} bytes runs past the end (${buf.length - off - header} left)`);
    out.push(buf.subarray(off, end));
    off = end;
  }
  return out;
}

/** Parses one DER certificate into the port's shape. Throws with the parser's reason. */
export function parseDerCertificate(der: Uint8Array): SpireCertificate {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(der);
  } catch (e) {
    throw new Error(`not an X.509 certificate: ${(e as Error).message}`, { cause: e });
  }
  return {
    serialHex: cert.serialNumber.toLowerCase(),
    sha256: cert.fingerprint256.replaceAll(':', '').toLowerCase(),
    subject: cert.subject.replaceAll('\n', ', '),
    issuer: cert.issuer.replaceAll('\n', ', '),
    uriSans: (cert.subjectAltName ?? '').split(', ').filter((p) => p.startsWith('URI:')).map((p) => p.slice(4)),
    notBeforeMs: Date.parse(cert.validFrom),
    notAfterMs: Date.parse(cert.validTo),
    isCa: cert.ca,
    der: new Uint8Array(der),
  };
}

/** Splits and parses concatenated DER certificates; `what` names the field in error messages. */
export function parseConcatenatedCertificates(buf: Uint8Array, what: string): SpireCertificate[] {
  try {
    return splitConcatenatedDer(buf).map(parseDerCertificate);
  } catch (e) {
    throw new Error(`${what}: ${(e as Error).message}`, { cause: e });
  }
}

/** Parses a list of single DER certificates (e.g. cert_chain, one DER per element). */
export function parseCertificateList(items: readonly Uint8Array[], what: string): SpireCertificate[] {
  return items.map((der, i) => {
    try {
      return parseDerCertificate(der);
    } catch (e) {
      throw new Error(`${what}[${i}]: ${(e as Error).message}`, { cause: e });
    }
  });
}

/** Concatenates DER certificates the way SPIRE does (no separator). */
export function concatDer(items: readonly Uint8Array[]): Buffer {
  return Buffer.concat(items.map((d) => Buffer.from(d.buffer, d.byteOffset, d.byteLength)));
}
