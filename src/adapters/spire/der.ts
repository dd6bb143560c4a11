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
    uriSans: (cert.subjectAltName ?? '')
      .split(', ')
      .filter((p) => p.startsWith('URI:'))
      .map((p) => p.slice(4)),
    notBeforeMs: Date.parse(cert.validFrom),
    notAfterMs: Date.parse(cert.validTo),
    isCa: cert.ca,
    ...withSubjectKeyId(der),
    der: new Uint8Array(der),
  };
}

interface Tlv {
  readonly tag: number;
  /** First content byte. */
  readonly start: number;
  /** One past the last content byte. */
  readonly end: number;
}

/** One DER TLV at `off` within `limit`; null when it does not fit. */
function readTlv(buf: Uint8Array, off: number, limit: number): Tlv | null {
  const tag = buf[off];
  const first = buf[off + 1];
  if (tag === undefined || first === undefined) return null;
  let start = off + 2;
  let length = first;
  if (first >= 0x80) {
    const n = first & 0x7f;
    if (n === 0 || n > 4) return null;
    length = 0;
    for (let i = 0; i < n; i += 1) length = length * 256 + (buf[start + i] ?? 0);
    start += n;
  }
  const end = start + length;
  return end <= limit ? { tag, start, end } : null;
}

/** The children of a constructed TLV. */
function childrenOf(buf: Uint8Array, t: Tlv): Tlv[] {
  const out: Tlv[] = [];
  for (let off = t.start; off < t.end;) {
    const c = readTlv(buf, off, t.end);
    if (c === null) return out;
    out.push(c);
    off = c.end;
  }
  return out;
}

const SKID_OID = [0x55, 0x1d, 0x0e];
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/**
 * The Subject Key Identifier extension (2.5.29.14) of a DER certificate, lowercase hex: SPIRE's
 * X.509 authority_id. node:crypto does not expose extensions, so the TBSCertificate is walked:
 * extensions are its [3] child, each {extnID, critical?, extnValue OCTET STRING{OCTET STRING}}.
 */
export function subjectKeyIdOf(der: Uint8Array): string | null {
  const cert = readTlv(der, 0, der.length);
  const tbs = cert === null ? undefined : childrenOf(der, cert)[0];
  const explicit = tbs === undefined ? undefined : childrenOf(der, tbs).find((c) => c.tag === 0xa3);
  const list = explicit === undefined ? undefined : childrenOf(der, explicit)[0];
  if (list === undefined) return null;
  for (const ext of childrenOf(der, list)) {
    const [oid, ...rest] = childrenOf(der, ext);
    if (oid?.tag !== 0x06 || oid.end - oid.start !== SKID_OID.length || SKID_OID.some((b, i) => der[oid.start + i] !== b)) continue;
    const value = rest.find((c) => c.tag === 0x04);
    const inner = value === undefined ? null : readTlv(der, value.start, value.end);
    return inner?.tag === 0x04 ? hex(der.subarray(inner.start, inner.end)) : null;
  }
  return null;
}

function withSubjectKeyId(der: Uint8Array): { subjectKeyId?: string } {
  const id = subjectKeyIdOf(der);
  return id === null ? {} : { subjectKeyId: id };
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
